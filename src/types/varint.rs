//! LEB128 varints (7 bits a byte, low group first, high bit set on every byte but the
//! last): the compact encoding's only field type.

use crate::types::encoding::{Bytes, DecodeError};

/// Appends `v` as a varint (1 byte below 128, at most 19 for a u128).
#[inline]
pub fn put(out: &mut Bytes, mut v: u128) {
    // Most fields (flags, counts, small limits) take one byte.
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut buf = [0u8; 19];
    let mut n = 0;
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[n] = low;
            n += 1;
            break;
        }
        buf[n] = low | 0x80;
        n += 1;
    }
    out.extend(&buf[..n]);
}

/// Reads varints from a buffer, refusing truncation and overlong or oversized values.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Self { rest: b }
    }

    /// The next varint as a u128.
    #[inline]
    pub fn u128(&mut self) -> Result<u128, DecodeError> {
        // Most fields take one byte.
        if let Some((&byte, rest)) = self.rest.split_first() {
            if byte < 0x80 {
                self.rest = rest;
                return Ok(u128::from(byte));
            }
        }
        self.u128_long()
    }

    fn u128_long(&mut self) -> Result<u128, DecodeError> {
        let mut v: u128 = 0;
        for (i, &byte) in self.rest.iter().enumerate() {
            let shift = 7 * i as u32;
            let group = u128::from(byte & 0x7f);
            // 19 groups hold 133 bits: the last may carry only 2 of them, and a
            // trailing zero group (an overlong form) is refused.
            if shift >= 128 || (shift > 0 && byte == 0) || (group << shift) >> shift != group {
                return Err(DecodeError::State);
            }
            v |= group << shift;
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(v);
            }
        }
        Err(DecodeError::Length)
    }

    /// The next varint, which must fit in a u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        u64::try_from(self.u128()?).map_err(|_| DecodeError::State)
    }

    /// The next varint, which must fit in an i64 (times, counts).
    pub fn small(&mut self) -> Result<u64, DecodeError> {
        let v = self.u64()?;
        if v <= i64::MAX as u64 {
            Ok(v)
        } else {
            Err(DecodeError::State)
        }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// How many bytes are left (a bound on any count still to be read).
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Length);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: u128) -> Vec<u8> {
        let mut b = Bytes::default();
        put(&mut b, v);
        b.as_bytes().to_vec()
    }

    #[test]
    fn sizes_and_round_trips() {
        for (v, len) in [
            (0u128, 1),
            (127, 1),
            (128, 2),
            (3_600_000, 4),
            (u128::MAX, 19),
        ] {
            let b = bytes(v);
            assert_eq!(b.len(), len, "{v}");
            let mut r = Reader::new(&b);
            assert_eq!(r.u128(), Ok(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn refuses_truncated_overlong_and_oversized() {
        assert_eq!(Reader::new(&[0x80]).u128(), Err(DecodeError::Length));
        assert_eq!(Reader::new(&[0x81, 0x00]).u128(), Err(DecodeError::State));
        let mut too_big = vec![0xff; 18];
        too_big.push(0x04);
        assert_eq!(Reader::new(&too_big).u128(), Err(DecodeError::State));
        assert_eq!(Reader::new(&bytes(1 << 64)).u64(), Err(DecodeError::State));
        assert_eq!(
            Reader::new(&bytes(1 << 63)).small(),
            Err(DecodeError::State)
        );
    }
}
