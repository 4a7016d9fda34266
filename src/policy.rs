//! Policies: named sets of one to eight limits that live in the server, so operators
//! change a tier's limits at run time without touching the callers (`RL.CHECK key
//! POLICY name`). Pure: the JSON reader and writer, validation, the set of policies
//! and its digest. The module-wide set, its persistence and RL.POLICY are glued on in
//! `commands/policy.rs` and `types/policies.rs`.
//!
//! A policy is `{"limits": [limit, ...], "shadow": false}`, a limit
//! `{"algorithm": "TOKEN_BUCKET", "limit": 10, "period_ms": 1000, "burst": 20}` (or
//! `"period": "1s"` with a unit; CALENDAR's `"period": "DAY"` and `"utc_offset"`;
//! `"block_ms"` or `"block": "1m"`). Each limit is validated by RL.CHECK's own spec
//! parser, so ranges and messages are the same.

use std::sync::{Mutex, MutexGuard};

use ahash::AHashMap;
use serde_json::{Map, Value};

use crate::algorithms::calendar::Calendar;
use crate::algorithms::{Algorithm, Quota};
use crate::args::{parse_spec, CheckRequest, Form, Limits};
use crate::error::{ArgError, Error, Field, JsonError, PolicyError};

/// The most limits one policy holds.
pub const MAX_LIMITS: usize = 8;
/// The longest policy name, in bytes.
pub const MAX_NAME: usize = 128;

/// One limit of a policy: what an RL.CHECK spec names, without a cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// limit, period and burst.
    pub quota: Quota,
    /// CALENDAR's window (`Some` exactly for that algorithm).
    pub calendar: Option<Calendar>,
    /// `BLOCK ms`: when this limit denies, block it for this long (0: no block).
    pub block_ms: u64,
}

impl Limit {
    /// The RL.CHECK request this limit makes for `cost` units.
    pub fn request(&self, cost: u64) -> CheckRequest {
        CheckRequest {
            algorithm: self.algorithm,
            quota: self.quota,
            cost,
            calendar: self.calendar,
            block_ms: self.block_ms,
        }
    }
}

/// A validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// One to eight limits, checked all-or-nothing.
    pub limits: Vec<Limit>,
    /// Admit every request, counting what would have been denied.
    pub shadow: bool,
}

/// The fields a limit object may hold.
const LIMIT_FIELDS: [&str; 8] = [
    "algorithm",
    "limit",
    "period_ms",
    "period",
    "burst",
    "utc_offset",
    "block_ms",
    "block",
];

/// Whether `name` is a valid policy name: 1 to 128 bytes of letters, digits and `_-.:`.
pub fn valid_name(name: &[u8]) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(b))
}

/// Reads JSON text, reporting where it is malformed.
fn read_json(text: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => JsonError::Eof,
            _ => JsonError::Syntax,
        };
        Error::Json {
            line: u32::try_from(e.line()).unwrap_or(u32::MAX),
            column: u32::try_from(e.column()).unwrap_or(u32::MAX),
            what,
        }
    })
}

impl Policy {
    /// Parses and validates one policy's JSON text.
    pub fn parse(text: &[u8], limits: &Limits) -> Result<Policy, Error> {
        Policy::from_value(&read_json(text)?, limits)
    }

    /// Validates one policy's JSON value.
    pub fn from_value(v: &Value, limits: &Limits) -> Result<Policy, Error> {
        let obj = v
            .as_object()
            .ok_or(Error::Policy(PolicyError::NotAnObject))?;
        if obj.keys().any(|k| k != "limits" && k != "shadow") {
            return Err(Error::Policy(PolicyError::UnknownField));
        }
        let shadow = match obj.get("shadow") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Error::Policy(PolicyError::Shadow)),
        };
        let list = match obj.get("limits") {
            Some(Value::Array(list)) => list,
            _ => return Err(Error::Policy(PolicyError::LimitCount)),
        };
        if list.is_empty() || list.len() > MAX_LIMITS {
            return Err(Error::Policy(PolicyError::LimitCount));
        }
        let limits = list
            .iter()
            .enumerate()
            .map(|(i, l)| parse_limit(l, i + 1, limits))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { limits, shadow })
    }

    /// The canonical JSON text (periods in milliseconds, every field present), with
    /// `version` when given.
    pub fn to_json(&self, version: Option<u64>) -> String {
        let limits: Vec<Value> = self
            .limits
            .iter()
            .map(|l| {
                let mut m = Map::new();
                m.insert("algorithm".into(), l.algorithm.keyword().into());
                m.insert("limit".into(), l.quota.limit().into());
                match l.calendar {
                    Some(c) => {
                        m.insert("period".into(), c.unit.keyword().into());
                        if c.offset_min != 0 {
                            m.insert("utc_offset".into(), c.offset_min.into());
                        }
                    }
                    None => {
                        m.insert("period_ms".into(), l.quota.period_ms().into());
                    }
                }
                if l.algorithm.has_burst() {
                    m.insert("burst".into(), l.quota.burst().into());
                }
                if l.block_ms > 0 {
                    m.insert("block_ms".into(), l.block_ms.into());
                }
                Value::Object(m)
            })
            .collect();
        let mut m = Map::new();
        m.insert("limits".into(), Value::Array(limits));
        m.insert("shadow".into(), self.shadow.into());
        if let Some(v) = version {
            m.insert("version".into(), v.into());
        }
        Value::Object(m).to_string()
    }
}

/// One limit object, validated by RL.CHECK's spec parser: the JSON fields become the
/// spec's arguments, so ranges and messages are RL.CHECK's.
fn parse_limit(v: &Value, index: usize, limits: &Limits) -> Result<Limit, Error> {
    let index = u8::try_from(index).unwrap_or(u8::MAX);
    let unknown = Error::Policy(PolicyError::LimitField(index));
    let obj = v.as_object().ok_or(unknown)?;
    if obj.keys().any(|k| !LIMIT_FIELDS.contains(&k.as_str())) {
        return Err(unknown);
    }
    // A number as its decimal text; anything else as text RL.CHECK refuses.
    let text = |v: &Value, strings: bool| match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if strings => s.clone(),
        _ => String::from("-"),
    };
    let missing = |field| Error::PolicyLimit {
        index,
        what: ArgError::Missing(field),
    };
    let mut args: Vec<String> = Vec::with_capacity(5);
    args.push(text(
        obj.get("algorithm").ok_or(missing(Field::Algorithm))?,
        true,
    ));
    args.push(text(obj.get("limit").ok_or(missing(Field::Limit))?, false));
    let period = match (obj.get("period_ms"), obj.get("period")) {
        (Some(_), Some(_)) => return Err(Error::Policy(PolicyError::TwoPeriods(index))),
        (Some(p), None) => text(p, false),
        (None, Some(p)) => text(p, true),
        (None, None) => return Err(missing(Field::Period)),
    };
    args.push(period);
    if let Some(b) = obj.get("burst") {
        args.push("BURST".into());
        args.push(text(b, false));
    }
    if let Some(o) = obj.get("utc_offset") {
        args.push("UTC_OFFSET".into());
        args.push(text(o, false));
    }
    match (obj.get("block_ms"), obj.get("block")) {
        (Some(_), Some(_)) => return Err(Error::Policy(PolicyError::TwoBlocks(index))),
        (Some(b), None) => args.extend(["BLOCK".into(), text(b, false)]),
        (None, Some(b)) => args.extend(["BLOCK".into(), text(b, true)]),
        (None, None) => {}
    }
    let at = |e: Error| match e {
        Error::Arg { what, .. } => Error::PolicyLimit { index, what },
        other => other,
    };
    let (req, _, _) = parse_spec(&args, 1, Form::Check, limits).map_err(at)?;
    Ok(Limit {
        algorithm: req.algorithm,
        quota: req.quota,
        calendar: req.calendar,
        block_ms: req.block_ms,
    })
}

/// Parses `{"policies": {"name": policy, ...}}`: every name valid, every policy valid.
pub fn parse_set(text: &[u8], limits: &Limits) -> Result<Vec<(Vec<u8>, Policy)>, Error> {
    let v = read_json(text)?;
    let shape = Error::Policy(PolicyError::SetShape);
    let obj = v.as_object().ok_or(shape)?;
    if obj.keys().any(|k| k != "policies") {
        return Err(shape);
    }
    let set = obj
        .get("policies")
        .and_then(Value::as_object)
        .ok_or(shape)?;
    let mut out = Vec::with_capacity(set.len());
    for (name, p) in set {
        if !valid_name(name.as_bytes()) {
            return Err(Error::Policy(PolicyError::Name));
        }
        out.push((name.as_bytes().to_vec(), Policy::from_value(p, limits)?));
    }
    Ok(out)
}

/// A stored policy and the version it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The policy.
    pub policy: Policy,
    /// The store's change count when it was set: grows on every change.
    pub version: u64,
}

/// The set of policies, by name, and how many changes it has seen.
#[derive(Debug, Default)]
pub struct Store {
    map: AHashMap<Vec<u8>, Entry>,
    changes: u64,
}

impl Store {
    /// How many policies there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Changes made since the set began (persisted, so versions keep growing).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The policy named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Entry> {
        self.map.get(name)
    }

    /// Creates or replaces `name`; its new version. At most `max` policies.
    pub fn set(&mut self, name: &[u8], policy: Policy, max: usize) -> Result<u64, Error> {
        if !self.map.contains_key(name) && self.map.len() >= max {
            return Err(Error::Policy(PolicyError::TooMany));
        }
        self.changes += 1;
        let version = self.changes;
        self.map.insert(name.to_vec(), Entry { policy, version });
        Ok(version)
    }

    /// Deletes `name`; whether it existed.
    pub fn del(&mut self, name: &[u8]) -> bool {
        let existed = self.map.remove(name).is_some();
        if existed {
            self.changes += 1;
        }
        existed
    }

    /// Replaces every policy at once (all of them get the new version). At most `max`.
    pub fn replace_all(&mut self, set: Vec<(Vec<u8>, Policy)>, max: usize) -> Result<(), Error> {
        if set.len() > max {
            return Err(Error::Policy(PolicyError::TooMany));
        }
        self.changes += 1;
        let version = self.changes;
        self.map = set
            .into_iter()
            .map(|(n, policy)| (n, Entry { policy, version }))
            .collect();
        Ok(())
    }

    /// Restores a persisted set: its entries with their versions, and its change count.
    pub fn restore(entries: Vec<(Vec<u8>, Entry)>, changes: u64) -> Store {
        Store {
            map: entries.into_iter().collect(),
            changes,
        }
    }

    /// Every entry, by name.
    pub fn sorted(&self) -> Vec<(&[u8], &Entry)> {
        let mut v: Vec<(&[u8], &Entry)> = self.map.iter().map(|(n, e)| (&n[..], e)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// The whole set as RL.POLICY LOAD takes it (no versions).
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        for (name, e) in self.sorted() {
            let text = e.policy.to_json(None);
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            m.insert(String::from_utf8_lossy(name).into_owned(), v);
        }
        let mut top = Map::new();
        top.insert("policies".into(), Value::Object(m));
        Value::Object(top).to_string()
    }

    /// A digest of the names and policies (not the versions): equal on two servers
    /// exactly when their sets are equal. 128-bit FNV-1a over the canonical text, so
    /// it is the same on every build and platform.
    pub fn digest(&self) -> String {
        let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u128::from(b);
                h = h.wrapping_mul(0x0000000001000000000000000000013B);
            }
        };
        for (name, e) in self.sorted() {
            feed(&(name.len() as u64).to_le_bytes());
            feed(name);
            let text = e.policy.to_json(None);
            feed(&(text.len() as u64).to_le_bytes());
            feed(text.as_bytes());
        }
        format!("{h:032x}")
    }
}

/// The module-wide set. Commands run on Redis's main thread; the lock only makes the
/// static safe to share (it is never contended).
static STORE: Mutex<Option<Store>> = Mutex::new(None);

/// A guard on the module-wide set.
pub struct Guard(MutexGuard<'static, Option<Store>>);

impl std::ops::Deref for Guard {
    type Target = Store;
    fn deref(&self) -> &Store {
        // Filled by `store()` before the guard is handed out.
        self.0.as_ref().expect("the policy store is initialised")
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Store {
        self.0.as_mut().expect("the policy store is initialised")
    }
}

/// Locks the module-wide set.
pub fn store() -> Guard {
    let mut g = STORE.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Store::default());
    }
    Guard(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        sliding_log_max_limit: 100,
    };

    fn parse(text: &str) -> Result<Policy, Error> {
        Policy::parse(text.as_bytes(), &LIMITS)
    }

    #[test]
    fn reads_the_issue_example_and_writes_it_back_canonically() {
        let p = parse(r#"{"limits": [{"algorithm": "TOKEN_BUCKET", "limit": 10, "period_ms": 1000, "burst": 20},
            {"algorithm": "fixed_window", "limit": 1000, "period": "1d"}], "shadow": false}"#)
        .unwrap();
        assert_eq!(p.limits.len(), 2);
        assert_eq!(p.limits[0].quota.burst(), 20);
        assert_eq!(p.limits[1].quota.period_ms(), 86_400_000);
        assert_eq!(
            p.to_json(Some(3)),
            r#"{"limits":[{"algorithm":"TOKEN_BUCKET","burst":20,"limit":10,"period_ms":1000},{"algorithm":"FIXED_WINDOW","limit":1000,"period_ms":86400000}],"shadow":false,"version":3}"#
        );
        assert_eq!(Policy::parse(p.to_json(None).as_bytes(), &LIMITS), Ok(p));
        let p = parse(r#"{"limits": [{"algorithm": "CALENDAR", "limit": 100, "period": "month", "utc_offset": -300},
            {"algorithm": "GCRA", "limit": 5, "period": "1s", "block": "1m"}]}"#)
        .unwrap();
        let cal = p.limits[0].calendar.unwrap();
        assert_eq!((cal.offset_min, p.limits[1].block_ms), (-300, 60_000));
        assert_eq!(
            p.to_json(None),
            r#"{"limits":[{"algorithm":"CALENDAR","limit":100,"period":"MONTH","utc_offset":-300},{"algorithm":"GCRA","block_ms":60000,"burst":5,"limit":5,"period_ms":1000}],"shadow":false}"#
        );
        assert_eq!(Policy::parse(p.to_json(None).as_bytes(), &LIMITS), Ok(p));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let pl = |index, what| Error::PolicyLimit { index, what };
        let table: &[(&str, Error)] = &[
            (
                "{\"limits\": [}",
                Error::Json {
                    line: 1,
                    column: 13,
                    what: JsonError::Syntax,
                },
            ),
            (
                "{\n \"limits\": [",
                Error::Json {
                    line: 2,
                    column: 12,
                    what: JsonError::Eof,
                },
            ),
            ("[]", Error::Policy(PolicyError::NotAnObject)),
            (
                r#"{"limits": [], "x": 1}"#,
                Error::Policy(PolicyError::UnknownField),
            ),
            (r#"{"limits": []}"#, Error::Policy(PolicyError::LimitCount)),
            (
                r#"{"shadow": true}"#,
                Error::Policy(PolicyError::LimitCount),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period_ms": 1}], "shadow": 1}"#,
                Error::Policy(PolicyError::Shadow),
            ),
            (
                r#"{"limits": [{"algorithm": "LEAKY", "limit": 1, "period_ms": 1}]}"#,
                pl(1, ArgError::Invalid(Field::Algorithm)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period_ms": 1}, {"algorithm": "GCRA", "limit": 0, "period_ms": 1}]}"#,
                pl(2, ArgError::Invalid(Field::Limit)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1.5, "period_ms": 1}]}"#,
                pl(1, ArgError::Invalid(Field::Limit)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": "1", "period_ms": 1}]}"#,
                pl(1, ArgError::Invalid(Field::Limit)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 9223372036854775808, "period_ms": 1}]}"#,
                pl(1, ArgError::Invalid(Field::Limit)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period_ms": "1s"}]}"#,
                pl(1, ArgError::Invalid(Field::Period)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1w"}]}"#,
                pl(1, ArgError::Invalid(Field::Period)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1}]}"#,
                pl(1, ArgError::Missing(Field::Period)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s", "period_ms": 1000}]}"#,
                Error::Policy(PolicyError::TwoPeriods(1)),
            ),
            (
                r#"{"limits": [{"algorithm": "FIXED_WINDOW", "limit": 1, "period": "1s", "burst": 2}]}"#,
                pl(1, ArgError::BurstNotSupported),
            ),
            (
                r#"{"limits": [{"algorithm": "SLIDING_LOG", "limit": 101, "period": "1s"}]}"#,
                pl(1, ArgError::LogLimitTooHigh),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s", "cost": 2}]}"#,
                Error::Policy(PolicyError::LimitField(1)),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s", "utc_offset": 60}]}"#,
                pl(1, ArgError::UtcOffsetNotSupported),
            ),
            (
                r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s", "block": "1s", "block_ms": 1}]}"#,
                Error::Policy(PolicyError::TwoBlocks(1)),
            ),
            (
                r#"{"limits": [{"algorithm": "CALENDAR", "limit": 1, "period": "1d"}]}"#,
                pl(1, ArgError::Invalid(Field::CalendarUnit)),
            ),
        ];
        for (text, want) in table {
            assert_eq!(parse(text), Err(*want), "{text}");
        }
        let nine = format!(
            r#"{{"limits": [{}]}}"#,
            [r#"{"algorithm": "GCRA", "limit": 1, "period": "1s"}"#; 9].join(",")
        );
        assert_eq!(parse(&nine), Err(Error::Policy(PolicyError::LimitCount)));
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(valid_name(b"free") && valid_name(b"tier:pro-2.v1_x"));
        assert!(valid_name(&[b'a'; 128]));
        for bad in [&b""[..], &[b'a'; 129], b"a b", b"caf\xc3\xa9", b"a\"b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_store_versions_every_change_and_digests_content_only() {
        let p =
            parse(r#"{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s"}]}"#).unwrap();
        let mut a = Store::default();
        assert_eq!(a.set(b"free", p.clone(), 10), Ok(1));
        assert_eq!(a.set(b"free", p.clone(), 10), Ok(2));
        assert_eq!(a.set(b"pro", p.clone(), 2), Ok(3));
        assert_eq!(
            a.set(b"max", p.clone(), 2),
            Err(Error::Policy(PolicyError::TooMany))
        );
        let mut b = Store::default();
        b.set(b"pro", p.clone(), 10).unwrap();
        assert_ne!(a.digest(), b.digest());
        b.set(b"free", p.clone(), 10).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert!(a.del(b"free") && !a.del(b"free"));
        assert_eq!(a.changes(), 4);
        assert_ne!(a.digest(), b.digest());
        let set = parse_set(b.to_json().as_bytes(), &LIMITS).unwrap();
        a.replace_all(set, 10).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.get(b"pro").unwrap().version, 5);
        assert_eq!(
            parse_set(br#"{"policies": {"a b": {}}}"#, &LIMITS),
            Err(Error::Policy(PolicyError::Name))
        );
        assert_eq!(
            parse_set(br#"{"free": {}}"#, &LIMITS),
            Err(Error::Policy(PolicyError::SetShape))
        );
    }
}
