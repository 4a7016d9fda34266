//! What RDB loading, RESTORE and RL.APPLY decode: the value encoding (the compact body
//! RDB saves, the byte form, and the 0.1.0 word stream) and the replication payloads.
//! Nothing may panic or allocate beyond what the input holds; what decodes must
//! encode back to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::replicate::unpack;
use redis_ratelimit::types::encoding::{decode, decode_body, decode_words, encode, encode_words};

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = decode(data) {
        let again = decode(encode(&l).as_bytes()).expect("an encoded value decodes");
        assert_eq!(again, l);
    }
    if let Ok(l) = decode_body(data) {
        let again = decode(encode(&l).as_bytes()).expect("an encoded value decodes");
        assert_eq!(again, l);
    }
    let mut words = data
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
    if let Ok(l) = decode_words(|| words.next()) {
        let mut out = Vec::new();
        encode_words(&l, |w| out.push(w));
        let mut it = out.into_iter();
        assert_eq!(decode_words(|| it.next()).expect("round trip"), l);
    }
    let _ = unpack(data);
});
