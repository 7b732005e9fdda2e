//! IP address conditions: CIDR membership and Python's `is_private` / `is_global`.
//!
//! Addresses are parsed as Python's `ipaddress.ip_address` parses them (no leading zeros in IPv4
//! octets; IPv6 zone ids are not supported). A value that is not an address satisfies none of
//! the positive IP conditions. Networks are parsed leniently, as `ip_network(v, strict=False)`
//! does: host bits are dropped and a bare address is a single-host network.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses a CIDR network (or a bare address, as a /32 or /128).
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Parses an address; `None` for anything else.
pub fn parse_addr(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok()
}

/// Whether `addr` lies in `net` (an IPv4 address is never in an IPv6 network and vice versa).
pub fn in_network(addr: IpAddr, net: &IpNet) -> bool {
    net.contains(&addr)
}

const V4_PRIVATE: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 29),
    (Ipv4Addr::new(192, 0, 0, 170), 31),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
    (Ipv4Addr::new(255, 255, 255, 255), 32),
];

/// Python 3.12's `_private_networks_exceptions` for IPv4.
const V4_PRIVATE_EXCEPTIONS: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(192, 0, 0, 9), 32),
    (Ipv4Addr::new(192, 0, 0, 10), 32),
];

const V6_PRIVATE: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
];

const V6_PRIVATE_EXCEPTIONS: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128),
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2), 128),
    (Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28),
    (Ipv6Addr::new(0x2001, 0x30, 0, 0, 0, 0, 0, 0), 28),
];

fn v4_in(addr: Ipv4Addr, table: &[(Ipv4Addr, u8)]) -> bool {
    let a = u32::from(addr);
    table.iter().any(|(net, len)| {
        let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
        a & mask == u32::from(*net) & mask
    })
}

fn v6_in(addr: Ipv6Addr, table: &[(Ipv6Addr, u8)]) -> bool {
    let a = u128::from(addr);
    table.iter().any(|(net, len)| {
        let mask = if *len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        a & mask == u128::from(*net) & mask
    })
}

/// Python's `ipaddress.ip_address(a).is_private` (3.12 tables).
pub fn is_private(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => v4_in(a, V4_PRIVATE) && !v4_in(a, V4_PRIVATE_EXCEPTIONS),
        IpAddr::V6(a) => {
            if let Some(v4) = ipv4_mapped(a) {
                return is_private(IpAddr::V4(v4));
            }
            v6_in(a, V6_PRIVATE) && !v6_in(a, V6_PRIVATE_EXCEPTIONS)
        }
    }
}

/// Python's `ipaddress.ip_address(a).is_global`: not private, and for IPv4 not in the shared
/// address space 100.64.0.0/10.
pub fn is_global(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !v4_in(a, &[(Ipv4Addr::new(100, 64, 0, 0), 10)]) && !is_private(addr),
        IpAddr::V6(a) => match ipv4_mapped(a) {
            Some(v4) => is_global(IpAddr::V4(v4)),
            None => !is_private(addr),
        },
    }
}

fn ipv4_mapped(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        Some(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            (s[6] & 0xff) as u8,
            (s[7] >> 8) as u8,
            (s[7] & 0xff) as u8,
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        parse_addr(s).unwrap()
    }

    #[test]
    fn networks_and_membership() {
        let net = parse_network("10.1.2.3/8").unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(in_network(ip("10.200.0.1"), &net));
        assert!(!in_network(ip("11.0.0.1"), &net));
        assert!(!in_network(ip("::ffff:10.0.0.1"), &net));
        let host = parse_network("1.2.3.4").unwrap();
        assert!(in_network(ip("1.2.3.4"), &host));
        assert!(parse_network("nope").is_none());
        assert!(parse_addr("010.0.0.1").is_none());
        assert!(parse_addr("1.2.3").is_none());
    }

    #[test]
    fn private_and_global() {
        for p in [
            "10.0.0.1",
            "192.168.1.1",
            "172.31.255.255",
            "127.0.0.1",
            "::1",
            "fd00::1",
        ] {
            assert!(is_private(ip(p)), "{p}");
            assert!(!is_global(ip(p)), "{p}");
        }
        for g in ["8.8.8.8", "52.1.2.3", "2606:4700::1111", "192.0.0.9"] {
            assert!(!is_private(ip(g)), "{g}");
            assert!(is_global(ip(g)), "{g}");
        }
        // Shared address space is neither private nor global, as in Python.
        assert!(!is_private(ip("100.64.0.1")));
        assert!(!is_global(ip("100.64.0.1")));
        assert!(is_private(ip("::ffff:10.0.0.1")));
    }
}
