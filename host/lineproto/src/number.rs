//! Number parsing for field values and timestamps.
//!
//! Floats take a fast path for the common shape of metrics (`12.34`, `-0.5`, `1e3`): when the
//! decimal mantissa fits 2^53 and the power of ten is at most 22, both are exact f64s and one
//! IEEE multiplication or division gives the correctly rounded result (Clinger's fast path).
//! Everything else goes to the standard library's parser, which is also correctly rounded,
//! so the two paths never disagree.

/// Why a numeric token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Not a number at all (`1.2.3`, `-`, `12x`).
    Syntax,
    /// Syntactically a number but outside the type's range (`1e400`, `99999999999999999999i`).
    Range,
}

/// Exact powers of ten that an f64 represents.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a float field value: `[-]digits[.digits][(e|E)[+|-]digits]`, where either the
/// integer or the fraction part may be empty but not both (`.5` and `5.` are accepted, as Go's
/// `strconv.ParseFloat` accepts them). Non-finite results are a [`NumError::Range`].
#[inline]
pub(crate) fn parse_float(tok: &[u8]) -> Result<f64, NumError> {
    let b = tok;
    let n = b.len();
    let mut i = 0;
    let neg = n > 0 && b[0] == b'-';
    if neg {
        i = 1;
    }
    let mut mant: u64 = 0;
    // Digits in the mantissa; more than 19 may overflow u64, so those go the slow way.
    let mut digits = 0u32;
    while i < n && b[i].is_ascii_digit() {
        if digits < 19 {
            mant = mant * 10 + u64::from(b[i] - b'0');
        }
        digits += 1;
        i += 1;
    }
    let mut frac = 0i32;
    if i < n && b[i] == b'.' {
        i += 1;
        while i < n && b[i].is_ascii_digit() {
            if digits < 19 {
                mant = mant * 10 + u64::from(b[i] - b'0');
                frac += 1;
            }
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return Err(NumError::Syntax);
    }
    let mut exp: i32 = 0;
    if i < n && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let eneg = i < n && b[i] == b'-';
        if i < n && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let start = i;
        while i < n && b[i].is_ascii_digit() {
            // Saturate: anything this large is out of range or zero anyway, and the slow path
            // below decides which.
            exp = exp
                .saturating_mul(10)
                .saturating_add(i32::from(b[i] - b'0'));
            i += 1;
        }
        if i == start {
            return Err(NumError::Syntax);
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != n {
        return Err(NumError::Syntax);
    }
    let e10 = exp.saturating_sub(frac);
    let v = if digits <= 19 && mant <= (1u64 << 53) && (-22..=22).contains(&e10) {
        // The cast is exact: mant <= 2^53.
        let m = mant as f64;
        let v = if e10 < 0 {
            m / POW10[e10.unsigned_abs() as usize]
        } else {
            m * POW10[e10.unsigned_abs() as usize]
        };
        if neg { -v } else { v }
    } else {
        // The syntax was checked above, so the standard parser can only fail on inputs it
        // does not accept that we do; treat those as syntax errors rather than trusting it to
        // agree on every corner.
        std::str::from_utf8(tok)
            .map_err(|_| NumError::Syntax)?
            .parse::<f64>()
            .map_err(|_| NumError::Syntax)?
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(NumError::Range)
    }
}

/// Parses `[-]digits` into an i64 (integer field values without their `i`, timestamps).
#[inline]
pub(crate) fn parse_i64(tok: &[u8]) -> Result<i64, NumError> {
    let (neg, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    let mag = parse_digits(digits)?;
    if neg {
        0i64.checked_sub_unsigned(mag).ok_or(NumError::Range)
    } else {
        i64::try_from(mag).map_err(|_| NumError::Range)
    }
}

/// Parses `digits` into a u64 (unsigned field values without their `u`).
pub(crate) fn parse_u64(tok: &[u8]) -> Result<u64, NumError> {
    parse_digits(tok)
}

#[inline]
fn parse_digits(b: &[u8]) -> Result<u64, NumError> {
    if b.is_empty() {
        return Err(NumError::Syntax);
    }
    if b.len() <= 19 {
        // 19 digits are below 10^19 < 2^64: no overflow checks needed. Timestamps in
        // nanoseconds have exactly 19.
        let mut v: u64 = 0;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err(NumError::Syntax);
            }
            v = v * 10 + u64::from(d);
        }
        return Ok(v);
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(NumError::Syntax);
        }
        // Keep scanning after an overflow so that `99999999999999999999x` is a syntax error,
        // not a range error.
        match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
    }
    if overflow {
        Err(NumError::Range)
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floats_common_shapes() {
        assert_eq!(parse_float("1.5".as_bytes()), Ok(1.5));
        assert_eq!(parse_float("-0.25".as_bytes()), Ok(-0.25));
        assert_eq!(parse_float("1e3".as_bytes()), Ok(1000.0));
        assert_eq!(parse_float("1E+3".as_bytes()), Ok(1000.0));
        assert_eq!(parse_float("25e-1".as_bytes()), Ok(2.5));
        assert_eq!(parse_float(".5".as_bytes()), Ok(0.5));
        assert_eq!(parse_float("5.".as_bytes()), Ok(5.0));
        assert_eq!(parse_float("-.5".as_bytes()), Ok(-0.5));
        assert_eq!(parse_float("0.1".as_bytes()), Ok(0.1));
        let long = "12345678901234567890123.456";
        assert_eq!(
            parse_float(long.as_bytes()),
            Ok(long.parse::<f64>().unwrap())
        );
        assert_eq!(parse_float("1e-400".as_bytes()), Ok(0.0));
        let z = parse_float("-0".as_bytes()).unwrap();
        assert_eq!(z, 0.0);
        assert!(z.is_sign_negative());
    }

    #[test]
    fn floats_rejects() {
        for bad in [
            "", "-", ".", "-.", "1.2.3", "1e", "1e+", "e5", "1x", "1-", "--1", "+1",
        ] {
            assert_eq!(parse_float(bad.as_bytes()), Err(NumError::Syntax), "{bad}");
        }
        for bad in ["inf", "NaN", "infinity", "-inf"] {
            assert_eq!(parse_float(bad.as_bytes()), Err(NumError::Syntax), "{bad}");
        }
        assert_eq!(parse_float("1e400".as_bytes()), Err(NumError::Range));
        assert_eq!(
            parse_float("-1e99999999999".as_bytes()),
            Err(NumError::Range)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(parse_i64("0".as_bytes()), Ok(0));
        assert_eq!(parse_i64("-12".as_bytes()), Ok(-12));
        assert_eq!(parse_i64("9223372036854775807".as_bytes()), Ok(i64::MAX));
        assert_eq!(parse_i64("-9223372036854775808".as_bytes()), Ok(i64::MIN));
        assert_eq!(
            parse_i64("9223372036854775808".as_bytes()),
            Err(NumError::Range)
        );
        assert_eq!(
            parse_i64("-9223372036854775809".as_bytes()),
            Err(NumError::Range)
        );
        assert_eq!(
            parse_i64("99999999999999999999999".as_bytes()),
            Err(NumError::Range)
        );
        assert_eq!(
            parse_i64("99999999999999999999x".as_bytes()),
            Err(NumError::Syntax)
        );
        for bad in ["", "-", "1.0", "+1", "1 "] {
            assert_eq!(parse_i64(bad.as_bytes()), Err(NumError::Syntax), "{bad}");
        }
        assert_eq!(parse_u64("18446744073709551615".as_bytes()), Ok(u64::MAX));
        assert_eq!(
            parse_u64("18446744073709551616".as_bytes()),
            Err(NumError::Range)
        );
        assert_eq!(parse_u64("-1".as_bytes()), Err(NumError::Syntax));
    }

    proptest! {
        // The fast path must agree bit for bit with the standard library on every float's
        // shortest text and on arbitrary short decimal strings.
        #[test]
        fn fast_path_matches_std(
            v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO
        ) {
            let s = format!("{v}");
            prop_assert_eq!(parse_float(s.as_bytes()).map(f64::to_bits), Ok(v.to_bits()));
            let e = format!("{v:e}");
            prop_assert_eq!(parse_float(e.as_bytes()).map(f64::to_bits), Ok(v.to_bits()));
        }

        #[test]
        fn decimals_match_std(s in "-?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?") {
            let ours = parse_float(s.as_bytes()).ok().map(f64::to_bits);
            let std = s.parse::<f64>().ok().filter(|v| v.is_finite()).map(f64::to_bits);
            prop_assert_eq!(ours, std, "{}", s);
        }

        #[test]
        fn i64_matches_std(v in any::<i64>()) {
            prop_assert_eq!(parse_i64(v.to_string().as_bytes()), Ok(v));
        }
    }
}
