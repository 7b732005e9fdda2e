use super::*;

fn dec(s: &[u8]) -> Result<Decoded<'_>, BodyError> {
    decode_body(s, &DecodeLimits::default())
}

fn texts<'a>(d: &Decoded<'a>) -> Vec<(usize, &'a str)> {
    d.records.iter().map(|r| (r.index, r.text)).collect()
}

fn part_kinds(d: &Decoded<'_>) -> Vec<&'static str> {
    d.parts.iter().map(|p| p.error.kind()).collect()
}

#[test]
fn shapes() {
    let d = dec(br#"{"records":[{"a":1},{"b":2}]}"#).unwrap_or_default();
    assert_eq!(d.records.len(), 2);
    assert_eq!(d.records[1].text, r#"{"b":2}"#);
    let d = dec(br#"[{"a":1}, 3, "x"]"#).unwrap_or_default();
    assert_eq!(d.records.len(), 1);
    assert_eq!(d.bad.len(), 2);
    let d = dec(br#" {"a":1} "#).unwrap_or_default();
    assert_eq!(d.records[0].text, r#"{"a":1}"#);
    assert_eq!(dec(b"  ").err(), Some(BodyError::Empty));
    assert_eq!(dec(b"5").err(), Some(BodyError::NotRecords("number")));
    assert_eq!(
        dec(br#"{"records":{"a":1}}"#).err(),
        Some(BodyError::RecordsNotArray("object"))
    );
}

#[test]
fn salvages_other_records() {
    let mut body = br#"{"records":[{"a":1},{"b":""#.to_vec();
    body.extend_from_slice(b"\xff\xfe");
    body.extend_from_slice(br#""},{"c":3}]}"#);
    let d = dec(&body).unwrap_or_default();
    assert_eq!(d.records.len(), 2, "{d:?}");
    assert_eq!(d.bad.len(), 1);
    assert!(matches!(
        d.bad[0].error,
        RecordError::InvalidUtf8 { index: 1, .. }
    ));
    assert!(d.parts.is_empty(), "{d:?}");

    let deep = format!(
        "[{{\"a\":1}},{}{},{{\"c\":3}}]",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let d = dec(deep.as_bytes()).unwrap_or_default();
    assert_eq!(d.records.len(), 2);
    assert_eq!(d.bad.len(), 1);
}

#[test]
fn invalid_json_body() {
    assert!(matches!(dec(b"{not json"), Err(BodyError::InvalidJson(_))));
    assert!(matches!(dec(b"\xff"), Err(BodyError::InvalidJson(_))));
    // Positions are byte offsets in the body.
    match dec(b"{\"a\":1,\n\"b\" 2}") {
        Err(BodyError::InvalidJson(m)) => assert!(m.ends_with("at byte 12"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_document_of_a_body_is_read() {
    for body in [
        &br#"{"records":[{"a":1}]}{"records":[{"b":2}]}"#[..],
        b"{\"records\":[{\"a\":1}]}\n{\"records\":[{\"b\":2}]}\n",
        b"{\"a\":1}\r\n{\"b\":2}",
        b"[{\"a\":1}] {\"records\":[{\"b\":2}]}",
    ] {
        let d = dec(body).unwrap_or_default();
        assert_eq!(
            texts(&d),
            [(0, r#"{"a":1}"#), (1, r#"{"b":2}"#)],
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(d.documents.len(), 2);
        assert!(d.parts.is_empty());
    }
    // A document that is not records is reported; the others are read.
    let d = dec(b"{\"a\":1}\nnull\n5 [{\"b\":2}]").unwrap_or_default();
    assert_eq!(d.records.len(), 2);
    assert_eq!(part_kinds(&d), ["not_records", "not_records"]);
    assert_eq!(d.parts[0].raw, b"null");
    assert_eq!(d.parts[0].at, 8);
    // A broken second document is salvaged like a first one.
    let d = dec(b"{\"records\":[{\"a\":1}]}{\"records\":[{\"b\":2},{\"c\":").unwrap_or_default();
    assert_eq!(d.records.len(), 2, "{d:?}");
    assert!(matches!(
        d.bad[0].error,
        RecordError::Unterminated { index: 2, .. }
    ));
}

#[test]
fn the_last_records_key_wins_and_the_earlier_array_is_reported() {
    let body = br#"{"records":[{"a":1},{"a":2}],"x":1,"records": [ {"b":2} ]}"#;
    let d = dec(body).unwrap_or_default();
    assert_eq!(texts(&d), [(0, r#"{"b":2}"#)]);
    assert_eq!(part_kinds(&d), ["records_shadowed"]);
    assert_eq!(d.parts[0].raw, br#"[{"a":1},{"a":2}]"#);
    assert_eq!(d.parts[0].at, 11);
    // An empty earlier array holds nothing to report; a later non-array is the body's error.
    let d = dec(br#"{"records":[],"records":[{"b":2}]}"#).unwrap_or_default();
    assert_eq!((d.records.len(), d.parts.len()), (1, 0));
    assert_eq!(
        dec(br#"{"records":[{"a":1}],"records":5}"#).err(),
        Some(BodyError::RecordsNotArray("number"))
    );
    // The same on the slow path (a bad record forces it).
    let d = dec(br#"{"records":[{"a":1}],"records":[{"b":2},7,{"c":"#).unwrap_or_default();
    assert_eq!(texts(&d), [(0, r#"{"b":2}"#)]);
    assert_eq!(part_kinds(&d), ["records_shadowed"]);
    assert_eq!(d.parts[0].raw, br#"[{"a":1}]"#);
}

#[test]
fn malformed_envelopes_are_reported_and_their_records_evaluated() {
    let mut body = br#"{"x":""#.to_vec();
    body.extend_from_slice(b"\xff");
    body.extend_from_slice(br#"","records":[{"a":1},{"b":2}]}"#);
    let d = dec(&body).unwrap_or_default();
    assert_eq!(d.records.len(), 2);
    assert_eq!(part_kinds(&d), ["invalid_envelope"]);
    assert_eq!(d.parts[0].raw, &body[..]);
    // The fault's position is the body's, not that of the checked copy.
    let d = dec(br#"{"records":[{"a":1},{"b":2}],"y":tru}"#).unwrap_or_default();
    match &d.parts[0].error {
        BodyError::InvalidEnvelope { message, evaluated } => {
            assert_eq!(*evaluated, 2);
            assert!(message.ends_with("at byte 36"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A trailing comma in the list is one bad entry; the records are evaluated.
    let d = dec(br#"{"records":[{"a":1},{"b":2},]}"#).unwrap_or_default();
    assert_eq!(d.records.len(), 2);
    assert_eq!(d.bad.len(), 1);
    assert_eq!(d.bad[0].error, RecordError::TrailingComma { index: 2 });
    assert_eq!(d.bad[0].raw, b",]");
    assert!(d.parts.is_empty());
    // A list closed but the object not: the envelope is reported.
    let d = dec(br#"{"records":[{"a":1},{"b":2}]"#).unwrap_or_default();
    assert_eq!(part_kinds(&d), ["invalid_envelope"]);
}

#[test]
fn trailing_bytes_after_a_document_are_reported() {
    for (tail, raw) in [
        (&b"xyz"[..], &b"xyz"[..]),
        (b"}xyz", b"}xyz"),
        (b"\xff", b"\xff"),
        (b"\x00", b"\x00"),
        (b" } ] \x00\n", b"} ] \x00"),
    ] {
        let mut body = br#"{"records":[{"a":1}]}"#.to_vec();
        body.extend_from_slice(tail);
        let d = dec(&body).unwrap_or_default();
        assert_eq!(d.records.len(), 1, "{tail:?}");
        assert_eq!(part_kinds(&d), ["invalid_json"], "{tail:?}");
        assert_eq!(d.parts[0].raw, raw, "{tail:?}");
    }
}

#[test]
fn a_byte_order_mark_is_not_content() {
    let d = dec(b"\xef\xbb\xbf{\"records\":[{\"a\":1}]}").unwrap_or_default();
    assert_eq!(d.records.len(), 1);
    assert!(d.parts.is_empty());
    assert_eq!(dec(b"\xef\xbb\xbf \n").err(), Some(BodyError::Empty));
}

#[test]
fn heads_keep_characters_whole() {
    assert_eq!(head(b"abcdef", 4), b"abcd");
    assert_eq!(head("aé".as_bytes(), 2), b"a");
    assert_eq!(head(b"a\xffbc", 3), b"a\xffb");
    assert_eq!(head(b"ab", 10), b"ab");
}

#[test]
fn excerpt_is_bounded() {
    assert_eq!(excerpt(b"ab\ncd", 3), "ab\\n…");
}
