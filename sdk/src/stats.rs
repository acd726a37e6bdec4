//! Small statistics shared by the built-in functions: medians, Tukey fences and a centred
//! least-squares line.

use crate::points::Timestamp;

/// The median of sorted values (mean of the two middle ones for an even count); `None` when
/// empty.
pub fn median_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Tukey's fences `(Q1 − 1.5·IQR, Q3 + 1.5·IQR)` of the values (any order). Q1 and Q3 are the
/// medians of the lower and upper halves, the median itself excluded when the count is odd.
/// `None` with fewer than 4 values.
pub fn tukey_fences(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 4 {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let half = s.len() / 2;
    let q1 = median_sorted(&s[..half])?;
    let q3 = median_sorted(&s[s.len() - half..])?;
    let iqr = q3 - q1;
    Some((q1 - 1.5 * iqr, q3 + 1.5 * iqr))
}

/// A least-squares line `y = y_mean + slope·(t − t_mean)`, fitted with x centred on its mean so
/// epoch-ms timestamps lose no precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearFit {
    /// Mean time of the points (ms).
    pub t_mean: f64,
    /// Mean value.
    pub y_mean: f64,
    /// Change of value per ms.
    pub slope: f64,
}

impl LinearFit {
    /// Fits the points; `None` with fewer than 2 distinct timestamps.
    pub fn fit(points: &[(Timestamp, f64)]) -> Option<LinearFit> {
        let &(t0, _) = points.first()?;
        let n = points.len() as f64;
        // Offsets from the first timestamp are exact integers in f64 for any realistic span.
        let dx: Vec<f64> = points.iter().map(|&(t, _)| (t - t0) as f64).collect();
        let x_mean = dx.iter().sum::<f64>() / n;
        let y_mean = points.iter().map(|&(_, y)| y).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, &(_, y)) in dx.iter().zip(points) {
            sxy += (x - x_mean) * (y - y_mean);
            sxx += (x - x_mean) * (x - x_mean);
        }
        if sxx <= 0.0 {
            return None;
        }
        Some(LinearFit {
            t_mean: t0 as f64 + x_mean,
            y_mean,
            slope: sxy / sxx,
        })
    }

    /// The line's value at time `t`.
    pub fn at(&self, t: Timestamp) -> f64 {
        self.y_mean + self.slope * (t as f64 - self.t_mean)
    }

    /// When the line reaches `y` (ms since the epoch); `None` for a flat line.
    pub fn time_of(&self, y: f64) -> Option<f64> {
        (self.slope != 0.0).then(|| self.t_mean + (y - self.y_mean) / self.slope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_fences() {
        assert_eq!(median_sorted(&[]), None);
        assert_eq!(median_sorted(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median_sorted(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
        // ALEPIZ's documented example: Q1 70, Q3 71.5.
        let v = [
            71.0, 70.0, 73.0, 70.0, 69.0, 70.0, 72.0, 71.0, 300.0, 71.0, 69.0, 70.0,
        ];
        assert_eq!(tukey_fences(&v), Some((67.75, 73.75)));
        // Odd count: the median is left out of both halves.
        assert_eq!(tukey_fences(&[1.0, 2.0, 3.0, 4.0, 5.0]), Some((-3.0, 9.0))); // Q1 1.5, Q3 4.5
        assert_eq!(tukey_fences(&[1.0, 2.0, 3.0]), None);
        assert_eq!(tukey_fences(&[5.0; 4]), Some((5.0, 5.0)));
    }

    #[test]
    fn centred_fit_is_exact_on_epoch_timestamps() {
        let t = 1_700_000_000_000_i64;
        let pts: Vec<_> = (0..5)
            .map(|i| (t + i * 60_000, 100.0 + 2.0 * i as f64))
            .collect();
        let f = LinearFit::fit(&pts).unwrap();
        assert_eq!(f.at(t + 4 * 60_000 + 600_000), 128.0);
        assert_eq!(f.time_of(120.0), Some((t + 600_000) as f64));
        assert_eq!(LinearFit::fit(&[(t, 1.0)]), None);
        let flat = LinearFit::fit(&[(t, 1.0), (t + 1, 1.0)]).unwrap();
        assert_eq!(flat.time_of(2.0), None);
    }
}
