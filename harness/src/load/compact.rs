//! A finished window's latency in the form the result stores: the figures the window shows
//! and its histogram serialized. A live histogram auto-sizes to its largest value (tens of
//! kilobytes), and a step keeps one window per second, so holding live histograms made a
//! long run's memory grow by megabytes a minute; the serialized form is under a kilobyte.

use hdrhistogram::Histogram;

/// One window's corrected latency, µs, reduced to what the result and the progress line need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowLatency {
    /// Recorded latencies.
    pub count: u64,
    /// Median, µs (0 when empty).
    pub p50_us: u64,
    /// 99th percentile, µs (0 when empty).
    pub p99_us: u64,
    /// Maximum, µs (0 when empty).
    pub max_us: u64,
    /// The histogram as base64 HdrHistogram V2 deflate (the format HdrHistogram's tools read);
    /// `None` when it is empty.
    pub histogram: Option<String>,
}

impl WindowLatency {
    /// Reduces a live histogram; the figures are read from it before it is dropped.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            histogram: encode_histogram(h),
        }
    }

    /// Recorded latencies.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Heap bytes this window's latency keeps.
    pub fn retained_bytes(&self) -> usize {
        self.histogram.as_ref().map_or(0, String::capacity)
    }
}

/// A histogram as base64 HdrHistogram V2 deflate, or `None` when it is empty.
pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    if h.is_empty() {
        return None;
    }
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut buf).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(buf))
}
