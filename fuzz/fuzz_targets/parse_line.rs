//! Fuzzes `parse_line` and asserts invariants, not just "no crash":
//! a rejection's offset lies within the line; an accepted record's borrowed
//! fields are slices of the line; trailing CR/spaces never change the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3logs::parse::parse_line;

fuzz_target!(|data: &[u8]| {
    let result = parse_line(data);
    let mut padded = data.to_vec();
    padded.extend_from_slice(b" \r");
    let again = parse_line(&padded);
    match (&result, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.reason, b.reason),
        _ => panic!("trailing blanks changed the outcome"),
    }
    match result {
        Err(e) => assert!(e.offset <= data.len()),
        Ok(rec) => {
            let range = data.as_ptr_range();
            for field in [rec.bucket_owner, rec.requester, rec.request_uri, rec.user_agent, rec.extra_fields]
                .into_iter()
                .flatten()
            {
                let r = field.as_ptr_range();
                assert!(range.start <= r.start && r.end <= range.end, "a field outside the line");
            }
            assert!((17..=27).contains(&rec.field_count));
        }
    }
});
