//! Median, minimum and maximum of a set of runs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The summary of `values` (NaNs ignored); `None` when there is none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        n,
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// The index (into `values`) of the median run: the middle one, or the lower of the two middle
/// ones for an even count, so that it is a run that really happened.
pub fn median_index(values: &[f64]) -> Option<usize> {
    let mut idx: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    if idx.is_empty() {
        return None;
    }
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    Some(idx[(idx.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_takes_the_middle() {
        let s = summarize(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!(
            s,
            Summary {
                n: 3,
                median: 3.0,
                min: 1.0,
                max: 5.0
            }
        );
    }

    #[test]
    fn even_count_averages_the_middle_two_and_nan_is_ignored() {
        let s = summarize(&[4.0, f64::NAN, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (4, 3.0, 1.0, 10.0));
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
    }

    #[test]
    fn median_index_is_a_real_run() {
        assert_eq!(median_index(&[30.0, 10.0, 20.0]), Some(2));
        assert_eq!(median_index(&[4.0, 1.0, 2.0, 10.0]), Some(2));
        assert_eq!(median_index(&[7.0]), Some(0));
        assert_eq!(median_index(&[]), None);
    }
}
