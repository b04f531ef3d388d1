//! Small summary statistics shared by the analyses and the benchmarks.

/// Median of the finite values (mean of the middle two for an even count); NaN if none.
pub fn median_finite(values: &[f64]) -> f64 {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    finite.sort_by(f64::total_cmp);
    let mid = finite.len() / 2;
    if finite.len() % 2 == 1 {
        finite[mid]
    } else {
        0.5 * (finite[mid - 1] + finite[mid])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_finite_values() {
        assert_eq!(median_finite(&[3.0, f64::NAN, 1.0, 2.0]), 2.0);
        assert_eq!(median_finite(&[4.0, 1.0]), 2.5);
        assert!(median_finite(&[f64::NAN]).is_nan());
    }
}
