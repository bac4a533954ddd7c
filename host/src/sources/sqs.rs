//! Okta Log Streaming read from an SQS queue that an EventBridge rule targets
//! (`../shared/design/okta-api.md` §5.2): each message body is one EventBridge envelope.
//!
//! The consumer long-polls the queue, writes each batch of messages through the org's pipeline,
//! and deletes the messages only after the sinks made them durable and the store committed their
//! uuids. A crash before the delete makes SQS deliver the messages again after their visibility
//! timeout; the uuid window drops them then. Credentials and region come from the usual AWS
//! sources (environment, profile, instance or task role); `region` and `endpoint_url` in the
//! config override them.

use std::time::Duration;

use anyhow::{Context as _, Result};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::watch;

use crate::config::EventBridgeConfig;
use crate::pipeline::{Channel, SharedPipeline};
use crate::sources::sleep_or_stop;

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
            .max_number_of_messages(config.max_messages)
            .wait_time_seconds(config.wait_secs)
            .send();
        let output = tokio::select! {
            r = receive => r,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let messages = match output {
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
        let entries = messages
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
        let deleted = client
            .delete_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))
            .context("while deleting messages from SQS");
        match deleted {
            Ok(out) if !out.failed.is_empty() => {
                // Harmless: they come back and are dropped as duplicates.
                tracing::warn!(org = %org, failed = out.failed.len(), "SQS did not delete every message; they will come back and be dropped as duplicates.");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(org = %org, error = %format!("{e:#}"), "Deleting from SQS failed; the messages will come back and be dropped as duplicates.")
            }
        }
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(7)).min(Duration::from_secs(30))
        + Duration::from_millis(fastrand::u64(..250))
}
