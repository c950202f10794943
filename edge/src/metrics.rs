//! Request and upstream metrics, rendered in the Prometheus text format
//! (version 0.0.4) at `GET /metrics`.
//!
//! Every label value comes from a closed set, so that no client can grow
//! the edge's memory by inventing label values: routes are templates of
//! the route table (requests that match no route share `unmatched`),
//! methods are the standard ones (any other is `other`), statuses are
//! three-digit numbers. On top of that each family holds at most
//! [`MAX_SERIES`] series; observations for a new series beyond it are
//! only counted.
//!
//! - `todo_edge_http_requests_total{method,route,status}`: counter.
//! - `todo_edge_http_request_duration_seconds{method,route,status}`:
//!   histogram of the time to the response head.
//! - `todo_edge_http_requests_in_flight`: gauge.
//! - `todo_edge_http_requests_shed_total`: counter of requests refused by
//!   the concurrency limit.
//! - `todo_edge_upstream_request_duration_seconds{rpc,code}`: histogram of
//!   the gRPC calls, by RPC and gRPC code.
//! - `todo_edge_metrics_series_overflow_total`: observations dropped
//!   because their family was full.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Method, StatusCode};
use tonic::Code;

use crate::error::code_name;

/// The label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The method label of requests whose method is not a standard one.
pub const OTHER_METHOD: &str = "other";

/// Most series one family holds: far above what the route table, the
/// standard methods and the statuses the edge sends produce, and a hard
/// stop should a label ever escape its closed set.
pub const MAX_SERIES: usize = 2048;

/// Upper bounds of the latency buckets, in seconds: from a cached answer
/// to the request timeout.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The route template that served a request, set by the handler in the
/// response extensions and read by the observing middleware.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

/// Every series the edge exports. Cheap to share behind an [`Arc`].
#[derive(Debug)]
pub struct Metrics {
    /// [`UNMATCHED`], allocated once.
    unmatched: Arc<str>,
    requests: Family<RequestKey>,
    upstream: Family<UpstreamKey>,
    in_flight: AtomicI64,
    shed: AtomicU64,
    /// Observations dropped because their family was full.
    overflow: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RequestKey {
    route: Arc<str>,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct UpstreamKey {
    rpc: Arc<str>,
    code: &'static str,
}

/// Histograms by label set.
#[derive(Debug)]
struct Family<K> {
    series: Mutex<HashMap<K, Histogram>>,
}

impl<K> Default for Family<K> {
    fn default() -> Self {
        Self {
            series: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Clone + Eq + Hash + Ord> Family<K> {
    /// Records `elapsed` under `key`; `false` when `key` is a new series
    /// and the family is full.
    fn observe(&self, key: K, elapsed: Duration) -> bool {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let full = series.len() >= MAX_SERIES;
        match series.get_mut(&key) {
            Some(histogram) => histogram.observe(elapsed),
            None if full => return false,
            None => series.entry(key).or_default().observe(elapsed),
        }
        true
    }

    fn len(&self) -> usize {
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// A consistent copy, sorted by labels so that the output is stable.
    fn snapshot(&self) -> Vec<(K, Histogram)> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut copy: Vec<(K, Histogram)> = series
            .iter()
            .map(|(key, histogram)| (key.clone(), histogram.clone()))
            .collect();
        drop(series);
        copy.sort_by(|a, b| a.0.cmp(&b.0));
        copy
    }
}

/// Non-cumulative bucket counts; the last slot counts the `+Inf` overflow.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Counts a request as in flight until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            unmatched: Arc::from(UNMATCHED),
            requests: Family::default(),
            upstream: Family::default(),
            in_flight: AtomicI64::new(0),
            shed: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// The route label of requests that matched no route.
    pub fn unmatched(&self) -> Arc<str> {
        Arc::clone(&self.unmatched)
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Records a served request.
    pub fn observe_request(
        &self,
        route: Arc<str>,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let key = RequestKey {
            route,
            method: method_label(method),
            status: status.as_u16(),
        };
        self.count_overflow(self.requests.observe(key, elapsed));
    }

    /// Counts an observation its full family did not record.
    fn count_overflow(&self, recorded: bool) {
        if !recorded {
            self.overflow.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many series the request and upstream families hold.
    pub fn series(&self) -> usize {
        self.requests.len() + self.upstream.len()
    }

    /// Records a request refused by the concurrency limit.
    pub fn observe_shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an upstream call of `rpc` that ended with `code`.
    pub fn observe_upstream(&self, rpc: Arc<str>, code: Code, elapsed: Duration) {
        let key = UpstreamKey {
            rpc,
            code: code_name(code),
        };
        self.count_overflow(self.upstream.observe(key, elapsed));
    }

    /// Every series in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let requests = self.requests.snapshot();
        header(
            &mut out,
            "todo_edge_http_requests_total",
            "counter",
            "HTTP requests served, by method, route template and status.",
        );
        for (key, histogram) in &requests {
            let labels = request_labels(key);
            let _ = writeln!(
                out,
                "todo_edge_http_requests_total{{{labels}}} {}",
                histogram.count()
            );
        }
        header(
            &mut out,
            "todo_edge_http_request_duration_seconds",
            "histogram",
            "Time from request to response head, by method, route template and status.",
        );
        for (key, histogram) in &requests {
            write_histogram(
                &mut out,
                "todo_edge_http_request_duration_seconds",
                &request_labels(key),
                histogram,
            );
        }
        write_single(
            &mut out,
            ("todo_edge_http_requests_in_flight", "gauge"),
            "HTTP requests being served.",
            self.in_flight.load(Ordering::Relaxed),
        );
        write_single(
            &mut out,
            ("todo_edge_http_requests_shed_total", "counter"),
            "Requests refused with 503 because the concurrency limit was reached.",
            self.shed.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "todo_edge_upstream_request_duration_seconds",
            "histogram",
            "Duration of gRPC calls to the upstream services, by RPC and gRPC code.",
        );
        for (key, histogram) in &self.upstream.snapshot() {
            let labels = format!("rpc=\"{}\",code=\"{}\"", escape(&key.rpc), escape(key.code));
            write_histogram(
                &mut out,
                "todo_edge_upstream_request_duration_seconds",
                &labels,
                histogram,
            );
        }
        write_single(
            &mut out,
            ("todo_edge_metrics_series_overflow_total", "counter"),
            "Observations not recorded because their metric family held its most series.",
            self.overflow.load(Ordering::Relaxed),
        );
        out
    }
}

/// The label of `method`: its name when it is one of the standard methods,
/// [`OTHER_METHOD`] otherwise (HTTP allows any token as a method, and a
/// label per invented method would let clients grow the series without
/// bound).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or(OTHER_METHOD, |known| known.as_str())
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A metric of one series without labels: its header and its value.
fn write_single(out: &mut String, (name, kind): (&str, &str), help: &str, value: impl Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn request_labels(key: &RequestKey) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{}\"",
        escape(key.method),
        escape(&key.route),
        key.status
    )
}

fn write_histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    let mut cumulative = 0;
    for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let total = histogram.count();
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
}

/// A label value escaped as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counted() {
        let metrics = Metrics::default();
        let route: Arc<str> = Arc::from("/v1/tasks/{id}");
        for millis in [1, 30, 30_000] {
            metrics.observe_request(
                Arc::clone(&route),
                &Method::GET,
                StatusCode::OK,
                Duration::from_millis(millis),
            );
        }
        let text = metrics.render();
        let labels = r#"method="GET",route="/v1/tasks/{id}",status="200""#;
        for line in [
            format!("todo_edge_http_requests_total{{{labels}}} 3"),
            format!("todo_edge_http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 1"),
            format!("todo_edge_http_request_duration_seconds_bucket{{{labels},le=\"0.05\"}} 2"),
            format!("todo_edge_http_request_duration_seconds_bucket{{{labels},le=\"10\"}} 2"),
            format!("todo_edge_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3"),
            format!("todo_edge_http_request_duration_seconds_count{{{labels}}} 3"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let invented = Method::from_bytes(b"XYZZY").unwrap();
        assert_eq!(method_label(&invented), OTHER_METHOD);
    }

    #[test]
    fn a_family_holds_at_most_max_series() {
        let metrics = Metrics::default();
        for i in 0..MAX_SERIES + 10 {
            metrics.observe_request(
                Arc::from(format!("/route/{i}")),
                &Method::GET,
                StatusCode::OK,
                Duration::from_millis(1),
            );
        }
        assert_eq!(metrics.series(), MAX_SERIES);
        let text = metrics.render();
        assert!(
            text.lines()
                .any(|l| l == "todo_edge_metrics_series_overflow_total 10"),
            "{text}"
        );
        // A series that exists keeps counting.
        metrics.observe_request(
            Arc::from("/route/0"),
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(1),
        );
        assert!(metrics.render().contains(
            "todo_edge_http_requests_total{method=\"GET\",route=\"/route/0\",status=\"200\"} 2"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
