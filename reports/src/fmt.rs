//! Number formatting and HTML escaping shared by the HTML page, the charts and the
//! comparison table, and the two formatters of `offsim`'s terminal summaries ([`si`] and
//! [`dur`]). Pure functions; the same input always gives the same text.

/// Escape a string for HTML text and for double- or single-quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Three significant figures, without exponent for everyday magnitudes (`1.23`, `12.3`,
/// `123`, `1234`). Non-finite values print as `-`.
pub(crate) fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    let a = x.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.001 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    };
    if s == "-0" { "0".to_string() } else { s }
}

/// A plain number: integers without a fraction, others with up to 6 significant digits.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `x` with the first prefix of `steps` it reaches (three significant figures), or none.
fn scaled(x: f64, steps: &[(f64, &str)], unit: &str) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    for &(f, prefix) in steps {
        if x.abs() >= f {
            return format!("{} {prefix}{unit}", sig3(x / f));
        }
    }
    format!("{} {unit}", sig3(x))
}

const SI: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];

/// Bits per second as `2.35 Gbit/s`.
pub(crate) fn bps(x: f64) -> String {
    scaled(x, &SI, "bit/s")
}

/// Bits per second as the page prints them (`2.35 Gbit/s`), for tests and tools that
/// look for a figure on the page.
pub fn bps_text(x: f64) -> String {
    bps(x)
}

/// Packets per second as `1.20 Mpps`.
pub(crate) fn pps(x: f64) -> String {
    scaled(x, &SI, "pps")
}

/// A count with an SI prefix (`12.3 k`), exact below 10 000.
pub(crate) fn count(x: u64) -> String {
    if x < 10_000 {
        x.to_string()
    } else {
        scaled(x as f64, &SI, "").trim_end().to_string()
    }
}

/// Nanoseconds as `850 ns`, `12.3 µs`, `4.50 ms` or `1.20 s`.
pub(crate) fn ns(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    let a = x.abs();
    if a >= 1e9 {
        format!("{} s", sig3(x / 1e9))
    } else if a >= 1e6 {
        format!("{} ms", sig3(x / 1e6))
    } else if a >= 1e3 {
        format!("{} µs", sig3(x / 1e3))
    } else {
        format!("{} ns", sig3(x))
    }
}

/// A value with an SI prefix (k, M, G) and exactly two decimals, for terminal text:
/// `si(1.5e6, "pps")` is `1.50 Mpps`, `si(950.0, "bit/s")` is `950.00 bit/s`. Unlike the
/// page's `bps` and `pps` (three significant figures, up to T), the decimals are fixed;
/// values below 1000 (negative ones too) get no prefix.
pub fn si(v: f64, unit: &str) -> String {
    // SI without its first step: G is the largest prefix here.
    let (d, p) = SI[1..]
        .iter()
        .copied()
        .find(|&(f, _)| v >= f)
        .unwrap_or((1.0, ""));
    format!("{:.2} {p}{unit}", v / d)
}

/// Nanoseconds for terminal text, with fixed decimals and ASCII units: `1.25 ms`,
/// `12.3 us`, `850 ns` (milliseconds are the largest unit). The page uses `ns` (three
/// significant figures, `µs`, seconds).
pub fn dur(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// A fraction as percent: `0.123` → `12.3 %`.
pub(crate) fn pct(frac: f64) -> String {
    if !frac.is_finite() {
        return "-".to_string();
    }
    format!("{} %", sig3(frac * 100.0))
}

/// Watts as `3.20 W` (or mW below 1 W).
pub(crate) fn watts(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    if x != 0.0 && x.abs() < 1.0 {
        format!("{} mW", sig3(x * 1e3))
    } else {
        format!("{} W", sig3(x))
    }
}

/// Nanojoules as `850 nJ` or `1.20 µJ`.
pub(crate) fn nanojoules(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    if x.abs() >= 1e3 {
        format!("{} µJ", sig3(x / 1e3))
    } else {
        format!("{} nJ", sig3(x))
    }
}

/// A signed change in percent: `+1.23 %`, `-10.0 %`.
pub(crate) fn signed_pct(p: f64) -> String {
    if !p.is_finite() {
        return if p > 0.0 {
            "+inf %".into()
        } else if p < 0.0 {
            "-inf %".into()
        } else {
            "-".into()
        };
    }
    let s = sig3(p);
    if p > 0.0 {
        format!("+{s} %")
    } else {
        format!("{s} %")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn escapes_everything_dangerous() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(esc("plain µs"), "plain µs");
    }

    #[test]
    fn units() {
        assert_eq!(bps(2.345e9), "2.35 Gbit/s");
        assert_eq!(bps(400e6), "400 Mbit/s");
        assert_eq!(pps(1.2e6), "1.20 Mpps");
        assert_eq!(pps(0.0), "0 pps");
        assert_eq!(ns(850.0), "850 ns");
        assert_eq!(ns(12_345.0), "12.3 µs");
        assert_eq!(ns(4.5e6), "4.50 ms");
        assert_eq!(pct(0.123), "12.3 %");
        assert_eq!(pct(-0.0), "0 %");
        assert_eq!(watts(0.5), "500 mW");
        assert_eq!(watts(3.2), "3.20 W");
        assert_eq!(count(1234), "1234");
        assert_eq!(count(12_345), "12.3 k");
        assert_eq!(num(4096.0), "4096");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(signed_pct(-10.0), "-10.0 %");
        assert_eq!(signed_pct(f64::INFINITY), "+inf %");
        assert_eq!(sig3(f64::NAN), "-");
    }

    /// The terminal formatters: fixed decimals, prefixes up to G, ASCII `us`.
    #[test]
    fn terminal_units() {
        assert_eq!(si(1.5e6, "pps"), "1.50 Mpps");
        assert_eq!(si(2.5e9, "bit/s"), "2.50 Gbit/s");
        assert_eq!(si(4.2e12, "bit/s"), "4200.00 Gbit/s");
        assert_eq!(si(1000.0, "pps"), "1.00 kpps");
        assert_eq!(si(999.0, "bit/s"), "999.00 bit/s");
        assert_eq!(si(0.0, "pps"), "0.00 pps");
        assert_eq!(si(-2e6, "pps"), "-2000000.00 pps");
        assert_eq!(dur(850), "850 ns");
        assert_eq!(dur(999), "999 ns");
        assert_eq!(dur(1_000), "1.0 us");
        assert_eq!(dur(12_345), "12.3 us");
        assert_eq!(dur(999_999), "1000.0 us");
        assert_eq!(dur(1_000_000), "1.00 ms");
        assert_eq!(dur(4_500_000_000), "4500.00 ms");
    }
}
