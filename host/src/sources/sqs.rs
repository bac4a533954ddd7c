//! Okta Log Streaming read from an SQS queue that an EventBridge rule targets
//! (`../shared/design/okta-api.md` §5.2): each message body is one EventBridge envelope.
//!
//! The consumer long-polls the queue, writes each batch of messages through the org's pipeline,
//! and deletes the messages only after the sinks made them durable and the store committed their
//! uuids. SQS hands out at most ten messages per receive, while every batch also exports and
//! commits the detection state (tens of MB on a busy org), so while the queue keeps answering
//! full receives the consumer gathers more, up to `batch_messages` or for at most
//! [`GATHER_FOR`], and writes them as one batch. A crash before the delete makes SQS deliver the messages again after their visibility
//! timeout; the uuid window drops them then. Credentials and region come from the usual AWS
//! sources (environment, profile, instance or task role); `region` and `endpoint_url` in the
//! config override them.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use tokio::sync::watch;

use crate::config::EventBridgeConfig;
use crate::pipeline::{Channel, SharedPipeline};
use crate::sources::sleep_or_stop;

/// How long a batch may gather more messages after its first receive.
const GATHER_FOR: Duration = Duration::from_secs(1);

/// SQS deletes at most this many messages per call.
const DELETE_BATCH: usize = 10;

/// Reads `queue_url` into `pipeline` until `stop`.
pub async fn consume(
    org: String,
    config: &EventBridgeConfig,
    pipeline: SharedPipeline,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let Some(queue_url) = config.queue_url.clone() else { return Ok(()) };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &config.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_sqs::Client::new(&loader.load().await);
    tracing::info!(org = %org, queue = %queue_url, "Reading Log Streaming events from SQS.");
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let receive = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(config.max_messages.min(i32::try_from(config.batch_messages).unwrap_or(i32::MAX)))
            .wait_time_seconds(config.wait_secs)
            .send();
        let output = tokio::select! {
            r = receive => r,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let mut messages = match output {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                failures += 1;
                let why = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
                if failures >= 5 && failures.is_multiple_of(5) {
                    tracing::error!(org = %org, error = %why, attempt = failures, "SQS keeps failing; check the queue URL, region and the credentials' sqs:ReceiveMessage permission.");
                } else {
                    tracing::warn!(org = %org, error = %why, attempt = failures, "Receiving from SQS failed; retrying.");
                }
                if sleep_or_stop(backoff(failures), &mut stop).await {
                    return Ok(());
                }
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        gather(&client, &queue_url, config, &mut messages).await;
        let bodies: Vec<&[u8]> = messages.iter().map(|m| m.body().unwrap_or("").as_bytes()).collect();
        let delivered = pipeline.lock().await.deliver(Channel::Sqs, &bodies, None, &[]).await;
        if let Err(error) = delivered {
            // Not deleted: SQS redelivers after the visibility timeout.
            failures += 1;
            tracing::warn!(org = %org, error = %format!("{error:#}"), attempt = failures, "Writing SQS messages failed; they will be received again.");
            if sleep_or_stop(backoff(failures), &mut stop).await {
                return Ok(());
            }
            continue;
        }
        failures = 0;
        let deleted = delete(&client, &queue_url, &messages).await;
        match deleted {
            Ok(0) => {}
            Ok(failed) => {
                // Harmless: they come back and are dropped as duplicates.
                tracing::warn!(org = %org, failed, "SQS did not delete every message; they will come back and be dropped as duplicates.");
            }
            Err(e) => {
                tracing::warn!(org = %org, error = %format!("{e:#}"), "Deleting from SQS failed; the messages will come back and be dropped as duplicates.")
            }
        }
    }
}

/// Adds to a batch that began with a full receive: more receives without waiting, while each one
/// comes back full, the batch is under `batch_messages` and [`GATHER_FOR`] has not passed. A
/// failed receive ends the gathering (the messages already held are written).
async fn gather(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    config: &EventBridgeConfig,
    messages: &mut Vec<Message>,
) {
    let full = usize::try_from(config.max_messages).unwrap_or(1);
    let started = Instant::now();
    let mut last = messages.len();
    while last >= full && messages.len() < config.batch_messages && started.elapsed() < GATHER_FOR {
        let want = (config.batch_messages - messages.len()).min(full);
        let more = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(i32::try_from(want).unwrap_or(1))
            .wait_time_seconds(0)
            .send()
            .await;
        let Ok(out) = more else { break };
        let got = out.messages.unwrap_or_default();
        last = if want < full { 0 } else { got.len() };
        messages.extend(got);
    }
}

/// Deletes `messages`, ten per call. Returns how many SQS did not delete.
async fn delete(client: &aws_sdk_sqs::Client, queue_url: &str, messages: &[Message]) -> Result<usize> {
    let mut failed = 0;
    for chunk in messages.chunks(DELETE_BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        let out = client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))
            .context("while deleting messages from SQS")?;
        failed += out.failed.len();
    }
    Ok(failed)
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(7)).min(Duration::from_secs(30))
        + Duration::from_millis(fastrand::u64(..250))
}
