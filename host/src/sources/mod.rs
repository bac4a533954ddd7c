//! Sources: where Okta events come from. `okta_api` polls the System Log API, `push` receives
//! event hooks and EventBridge API destinations over HTTP(S), `sqs` reads Log Streaming from an
//! SQS queue. `directory` syncs the org's users, groups, devices and schema (not events, but it
//! shares the poller's credentials, budget and store).

pub mod directory;
pub mod okta_api;
pub mod push;
pub mod sqs;

/// Sleeps, or returns `true` early if `stop` turns true.
pub async fn sleep_or_stop(duration: std::time::Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    let sleep = tokio::time::sleep_until((std::time::Instant::now() + duration).into());
    tokio::pin!(sleep);
    let stopped = tokio::select! {
        () = &mut sleep => false,
        r = stop.wait_for(|s| *s) => r.is_ok(),
    };
    if stopped {
        return true;
    }
    if !sleep.is_elapsed() {
        // Nobody can stop us any more (the sender is gone): just sleep.
        sleep.await;
    }
    *stop.borrow()
}
