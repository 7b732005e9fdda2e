//! The `hubwatch` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    hubwatch::main()
}
