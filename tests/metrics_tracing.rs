//! The `tracing` feature (`cargo test --features tracing --test metrics_tracing`):
//! a span per task, made once with the task's name and id and entered around
//! each poll; slow polls as `tracing` warnings.

mod support;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// What the subscriber saw.
#[derive(Default, Debug)]
struct Seen {
    /// Span id → (name, fields).
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    /// Span id → times entered.
    entered: HashMap<u64, usize>,
    /// (level, fields) of each event.
    events: Vec<(Level, HashMap<String, String>)>,
}

/// A subscriber that records spans, enters and events.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next_id: Arc<Mutex<u64>>,
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut next = self.next_id.lock().unwrap();
        *next += 1;
        let id = *next;
        let mut fields = Fields::default();
        span.record(&mut fields);
        self.seen
            .lock()
            .unwrap()
            .spans
            .insert(id, (span.metadata().name().to_string(), fields.0));
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.seen
            .lock()
            .unwrap()
            .events
            .push((*event.metadata().level(), fields.0));
    }

    fn enter(&self, span: &Id) {
        *self
            .seen
            .lock()
            .unwrap()
            .entered
            .entry(span.into_u64())
            .or_default() += 1;
    }

    fn exit(&self, _: &Id) {}
}

matrix_test! {
    fn each_task_has_a_span_entered_at_each_poll(mode) {
        let recorder = Recorder::default();
        let rt = mode
            .builder()
            .slow_poll_threshold(Some(slow_threshold()))
            .build()
            .unwrap();
        tracing::subscriber::with_default(recorder.clone(), || {
            rt.block_on(async {
                let alpha = ringloop::spawn(async {
                    ringloop::task::yield_now().await;
                    ringloop::task::yield_now().await;
                });
                alpha.set_name("alpha");
                let id = alpha.id().as_u64();
                alpha.await.unwrap();
                let slow = ringloop::spawn(async {
                    std::thread::sleep(slow_threshold() + Duration::from_millis(50))
                });
                slow.set_name("slow");
                slow.await.unwrap();
                id
            })
        });
        let seen = recorder.seen.lock().unwrap();
        let task_spans: Vec<_> = seen
            .spans
            .iter()
            .filter(|(_, (name, _))| name == "task")
            .collect();
        assert_eq!(task_spans.len(), 2, "{seen:#?}");
        let (alpha_id, (_, fields)) = task_spans
            .iter()
            .find(|(_, (_, f))| f.get("task.name").map(String::as_str) == Some("alpha"))
            .expect("a span for alpha");
        assert!(fields.contains_key("task.id"), "{fields:?}");
        // Three polls: two yields, then the end.
        assert_eq!(seen.entered.get(alpha_id), Some(&3), "{seen:#?}");

        // The slow task's warning (another poll pre-empted past the threshold on
        // a loaded machine would warn too: only the slow task's are counted).
        let warnings: Vec<_> = seen
            .events
            .iter()
            .filter(|(level, fields)| {
                *level == Level::WARN
                    && fields.get("task.name").map(String::as_str) == Some("slow")
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{seen:#?}");
        let fields = &warnings[0].1;
        assert_eq!(fields.get("task.name").map(String::as_str), Some("slow"));
        assert!(fields["message"].starts_with("Executing <Task name=\"slow\""), "{fields:?}");
        assert!(rt.metrics().slow_polls >= 1);
    }
}

/// The slow-poll threshold of these tests: 100 ms, scaled on a slow machine.
fn slow_threshold() -> Duration {
    support::scaled(Duration::from_millis(100))
}
