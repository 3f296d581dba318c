//! The quota's buckets in a DynamoDB table, shared by every process that names it
//! (`QUOTA_TABLE`): every Lambda instance, every execution, the embedded run.
//!
//! One item per model id or inference profile (`pk`), one number attribute per bucket of that
//! model: `tat_requests`, `tat_tokens`, `tat_images`, each the bucket's theoretical arrival
//! time in wall-clock milliseconds (see [`crate::buckets`]), and beside each the bucket's
//! given total `given_<kind>` (milliseconds of refill given back so far, see
//! [`crate::buckets::Turn`]). A bucket key `"<model>#<kind>"` is item `<model>`, attributes
//! `tat_<kind>` and `given_<kind>`. No attribute (or no item) is a full bucket.
//!
//! **A take is one conditional `UpdateItem`, with no read.** For each bucket of the take it
//! adds the cost to `tat` on condition that `tat` lies in `[now, now + τ − cost]` (the bucket
//! holds the amount), or, for a bucket whose `tat` is in the past (full), sets it to
//! `now + cost` on condition that it still is. Which of the two forms a bucket needs is guessed
//! from the last `tat` this process saw. The requests and tokens of a call are two attributes
//! of one item, so one update takes both or neither, without a transaction. When the condition
//! fails, DynamoDB returns the item as it was (`ReturnValuesOnConditionCheckFailure`): either a
//! bucket is short, and the take answers with the exact wait, or the guess was wrong (another
//! process moved `tat` meanwhile), and the take writes again with the right form, at most
//! [`MAX_CONFLICT_RETRIES`] times. A take is admitted up to [`AHEAD_MS`] ahead of the refill
//! ([`Admission::TakenAhead`]): the caller then starts when its turn comes, so callers waiting
//! for the same refill queue instead of racing for it. A refund is an atomic `ADD` of the
//! negative cost to `tat` and of the cost to `given`: it never conflicts with a take. A caller
//! waiting for its turn reads the item on the way (`GetItem`, a few times at most): what other
//! processes gave back meanwhile moves its turn sooner. A take is therefore one request almost
//! always, a refused caller's look at the buckets is one request, a queued caller's looks one
//! read each, and a refund is one request; the table needs only `UpdateItem` and `GetItem`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use rand::Rng;

use crate::buckets::{Admission, BucketError, BucketSpec, BucketStore, Take, Turn};

/// How many times a take writes again after another process moved a bucket between this
/// process's guess and its write, before it asks the caller to wait a few milliseconds.
pub const MAX_CONFLICT_RETRIES: u32 = 8;

/// The partition key attribute of the quota table (a string).
pub const KEY_ATTRIBUTE: &str = "pk";

/// Buckets in a DynamoDB table (see the module docs).
#[derive(Debug)]
pub struct DynamoBuckets {
    client: Client,
    table: String,
    /// The last `tat` this process read or wrote per bucket key, for [`BucketStore::peek`] and
    /// for guessing the form of the next take.
    seen: Mutex<HashMap<String, f64>>,
    /// Writes whose guess was wrong and that were written again (for logs and tests).
    conflicts: Mutex<u64>,
}

/// Where a bucket lives: its item's key and its `tat` attribute.
fn locate(key: &str) -> (&str, String) {
    match key.rsplit_once('#') {
        Some((item, kind)) if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            (item, format!("tat_{kind}"))
        }
        _ => (key, "tat".to_string()),
    }
}

/// The attribute holding the given total of the bucket whose `tat` is `tat_attribute`.
fn given_attribute(tat_attribute: &str) -> String {
    format!("given{}", tat_attribute.strip_prefix("tat").unwrap_or(tat_attribute))
}

/// A bucket's `tat` is behind now (a full bucket, or none) or ahead of it, which decides the
/// form of the conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `tat` is missing or before now: set it to `now + cost`.
    Full,
    /// `tat` is at or after now: add the cost, if it stays within the tolerance.
    Queued,
}

fn form(tat: Option<f64>, now_ms: u64) -> Form {
    match tat {
        Some(t) if t >= now_ms as f64 => Form::Queued,
        _ => Form::Full,
    }
}

impl DynamoBuckets {
    /// Buckets in `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), seen: Mutex::new(HashMap::new()), conflicts: Mutex::new(0) }
    }

    /// Buckets in `table`, with a client from `sdk` (the standard AWS configuration, which
    /// honours `AWS_ENDPOINT_URL_DYNAMODB`): short connect and attempt timeouts so an
    /// unreachable table fails the call instead of hanging it, and the SDK's standard retries.
    pub fn from_sdk(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        );
        if sdk.http_client().is_none() {
            builder = builder.http_client(crate::sdk::http_client());
        }
        Self::new(Client::from_conf(builder.build()), table)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes whose guess of a bucket's form was wrong and that were written again, so far.
    pub fn conflicts(&self) -> u64 {
        *self.conflicts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The level of bucket `key` at `now_ms`, read from the table (a full bucket when it has no
    /// item or attribute yet).
    pub async fn level(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Result<f64, BucketError> {
        let (item, attribute) = locate(key);
        let tat = self.number(key, &self.read_item(item, key).await?, &attribute)?;
        Ok(spec.level(tat, now_ms))
    }

    /// The item `item` as stored (a consistent read; empty when there is none). `key` names the
    /// bucket in errors.
    async fn read_item(&self, item: &str, key: &str) -> Result<HashMap<String, AttributeValue>, BucketError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(item.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(key, format!("GetItem failed: {}", DisplayErrorContext(&e))))?;
        Ok(out.item().cloned().unwrap_or_default())
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<String, f64>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, key: &str, message: impl Into<String>) -> BucketError {
        BucketError { store: self.describe(), key: key.to_string(), message: message.into() }
    }

    /// Attribute `name` of `item` as a finite number, if present.
    fn number(
        &self,
        key: &str,
        item: &HashMap<String, AttributeValue>,
        name: &str,
    ) -> Result<Option<f64>, BucketError> {
        match item.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or_else(|| self.error(key, format!("attribute {name} is not a number: {v:?}"))),
        }
    }

    /// Take every amount of `takes`, all of them buckets of item `item`, in one conditional
    /// update.
    async fn take_item(&self, item: &str, takes: &[&Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
        // The buckets' names, for errors only.
        let keys = || takes.iter().map(|t| t.key).collect::<Vec<_>>().join(" + ");
        let mut forms: Vec<Form> = {
            let seen = self.seen();
            takes.iter().map(|t| form(seen.get(t.key).copied(), now_ms)).collect()
        };
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let mut sets = Vec::with_capacity(takes.len());
            let mut conditions = Vec::with_capacity(takes.len());
            let mut names = HashMap::new();
            let mut values = HashMap::from([(":now".to_string(), number(now_ms as f64))]);
            for (i, (take, form)) in takes.iter().zip(&forms).enumerate() {
                let (_, attribute) = locate(take.key);
                let cost = take.spec.cost_ms(take.amount);
                names.insert(format!("#t{i}"), attribute);
                match form {
                    Form::Full => {
                        sets.push(format!("#t{i} = :n{i}"));
                        conditions.push(format!("(attribute_not_exists(#t{i}) OR #t{i} < :now)"));
                        values.insert(format!(":n{i}"), number(now_ms as f64 + cost));
                    }
                    Form::Queued => {
                        sets.push(format!("#t{i} = #t{i} + :c{i}"));
                        conditions.push(format!("#t{i} BETWEEN :now AND :hi{i}"));
                        values.insert(format!(":c{i}"), number(cost));
                        let hi = now_ms as f64 + take.spec.tolerance_ms() - cost + AHEAD_MS;
                        values.insert(format!(":hi{i}"), number(hi));
                    }
                }
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, AttributeValue::S(item.to_string()))
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(conditions.join(" AND "))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match result {
                Ok(out) => {
                    let new = out.attributes().cloned().unwrap_or_default();
                    let mut seen = self.seen();
                    let mut turn = Turn::default();
                    for take in takes {
                        let attribute = locate(take.key).1;
                        if let Some(tat) = self.number(take.key, &new, &attribute)? {
                            seen.insert(take.key.to_string(), tat);
                            let given = self.number(take.key, &new, &given_attribute(&attribute))?;
                            turn.bucket(take.key, take.spec, tat, given.unwrap_or(0.0));
                        }
                    }
                    return Ok(Admission::at(turn, now_ms));
                }
                Err(e) => match e.as_service_error() {
                    Some(s) if s.is_conditional_check_failed_exception() => match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                            c,
                        ) => c.item().cloned(),
                        _ => None,
                    },
                    _ => return Err(self.error(&keys(), format!("UpdateItem failed: {}", DisplayErrorContext(&e)))),
                },
            };
            // No item returned: there is no item (or the service did not say); read it.
            let old = match old {
                Some(old) => old,
                None => self.read_item(item, &keys()).await?,
            };
            let mut wait = Duration::ZERO;
            let mut next = Vec::with_capacity(takes.len());
            {
                let mut seen = self.seen();
                for take in takes {
                    let tat = self.number(take.key, &old, &locate(take.key).1)?;
                    if let Some(tat) = tat {
                        seen.insert(take.key.to_string(), tat);
                    } else {
                        seen.remove(take.key);
                    }
                    if let Err(d) = take.spec.admit_ahead(tat, take.amount, now_ms, AHEAD_MS) {
                        wait = wait.max(d);
                    }
                    next.push(form(tat, now_ms));
                }
            }
            if !wait.is_zero() {
                return Ok(Admission::Wait(wait));
            }
            // Every bucket holds the amount: another process moved one across now since this
            // process last looked. Write again with the right forms.
            self.count_conflict();
            forms = next;
            if attempt >= 2 {
                let pause = Duration::from_millis(rand::rng().random_range(1..=8));
                tokio::time::sleep(pause).await;
            }
        }
        // Heavily contended: let the other writers through, then try again.
        Ok(Admission::Wait(Duration::from_millis(rand::rng().random_range(5..=25))))
    }

    fn count_conflict(&self) {
        *self.conflicts.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }
}

/// A DynamoDB number for `x`, rounded to a millionth (finite values only reach here).
fn number(x: f64) -> AttributeValue {
    let rounded = if x.is_finite() { (x.clamp(-1e15, 1e15) * 1e6).round() / 1e6 } else { 0.0 };
    AttributeValue::N(format!("{rounded}"))
}

#[async_trait]
impl BucketStore for DynamoBuckets {
    async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
        // The buckets grouped by item, in order; a call's requests and tokens share one item.
        let mut items: Vec<(&str, Vec<&Take<'_>>)> = Vec::new();
        for take in takes {
            let (item, _) = locate(take.key);
            match items.iter_mut().find(|(i, _)| *i == item) {
                Some((_, group)) => group.push(take),
                None => items.push((item, vec![take])),
            }
        }
        let mut turn = Turn::default();
        for (done, (item, group)) in items.iter().enumerate() {
            match self.take_item(item, group, now_ms).await? {
                Admission::Taken => {}
                Admission::TakenAhead(t) => turn.extend(t),
                wait @ Admission::Wait(_) => {
                    // All or nothing across items: give back what the earlier items took.
                    for (_, taken) in &items[..done] {
                        for take in taken {
                            self.give(take.key, take.spec, take.spec.clamp(take.amount), now_ms).await?;
                        }
                    }
                    return Ok(wait);
                }
            }
        }
        Ok(Admission::at(turn, now_ms))
    }

    async fn give(&self, key: &str, spec: BucketSpec, amount: f64, _now_ms: u64) -> Result<(), BucketError> {
        let (item, attribute) = locate(key);
        let cost = amount * spec.ms_per_unit();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(item.to_string()))
            .condition_expression("attribute_exists(#t)")
            .expression_attribute_names("#t", &attribute)
            .expression_attribute_values(":delta", number(-cost));
        // Only what comes back moves queued turns; a debt is for the takes that follow.
        update = if amount > 0.0 {
            update
                .update_expression("ADD #t :delta, #g :given")
                .expression_attribute_names("#g", given_attribute(&attribute))
                .expression_attribute_values(":given", number(cost))
        } else {
            update.update_expression("ADD #t :delta")
        };
        let result = update.send().await;
        match result {
            Ok(_) => {}
            // No attribute: nobody has taken from this bucket, so it is full already.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => return Ok(()),
            Err(e) => return Err(self.error(key, format!("UpdateItem (refund) failed: {}", DisplayErrorContext(&e)))),
        }
        let mut seen = self.seen();
        if let Some(tat) = spec.given(seen.get(key).copied(), amount) {
            seen.insert(key.to_string(), tat);
        }
        Ok(())
    }

    fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64> {
        self.seen().get(key).map(|tat| spec.level(Some(*tat), now_ms))
    }

    fn describe(&self) -> String {
        format!("dynamodb table {}", self.table)
    }

    fn wait_before_asking_again(&self, refused_for: Duration) -> Duration {
        wait_before_asking_again(refused_for, &mut rand::rng())
    }

    fn moves_turns(&self) -> bool {
        true
    }

    async fn look_again(&self, turn: &mut Turn) -> Result<(), BucketError> {
        // One read per item: a call's requests and tokens are two buckets of one item.
        let keys: Vec<String> = turn.keys().map(str::to_string).collect();
        let mut items: Vec<(&str, HashMap<String, AttributeValue>)> = Vec::new();
        for key in &keys {
            let (item, attribute) = locate(key);
            let at = match items.iter().position(|(i, _)| *i == item) {
                Some(at) => at,
                None => {
                    items.push((item, self.read_item(item, key).await?));
                    items.len() - 1
                }
            };
            if let Some(given) = self.number(key, &items[at].1, &given_attribute(&attribute))? {
                turn.advance(key, given);
            }
        }
        Ok(())
    }
}

/// How long a caller refused for `refused_for` sleeps before it asks the shared buckets again:
/// two thirds of it, and then a random part of [`REFUSED_SPREAD_MS`].
///
/// A refusal says how long until the take would fall within [`AHEAD_MS`] of the refill if
/// nothing came back meanwhile; but other processes' calls give back the unused part of their
/// reservations without notice, at about half the refill rate while a course runs, so the
/// take fits after about two thirds of that (the same reckoning as
/// [`crate::quota::Quota`]'s look at a queued turn). A caller that asked again sooner would be
/// refused again, one more request to the table for nothing.
///
/// The spread is what keeps the table's traffic in proportion to the calls. Every caller
/// refused at about the same moment is told about the same wait: woken exactly then, all of
/// them would write at once for the one turn that opened, and all but one would be refused
/// again, a fresh round of writes for every turn (with tens of callers waiting, most of the
/// table's requests). Spread over half the horizon they come back one by one instead, and a
/// caller that comes back later loses nothing by it: its take is still admitted ahead of its
/// turn, which is as early as the buckets allow.
fn wait_before_asking_again(refused_for: Duration, rng: &mut impl Rng) -> Duration {
    refused_for.mul_f64(2.0 / 3.0) + Duration::from_millis(rng.random_range(0..=REFUSED_SPREAD_MS))
}

/// The span over which callers refused together come back (see [`wait_before_asking_again`]),
/// well inside [`AHEAD_MS`], so the last of them is still admitted ahead of its turn.
pub const REFUSED_SPREAD_MS: u64 = 500;
const _: () = assert!((REFUSED_SPREAD_MS as f64) < AHEAD_MS / 2.0, "callers must come back within the horizon");

/// How far ahead of the refill a take is admitted: the caller is told to start up to this
/// long later. Callers that would otherwise wake together and race for the next refill, one
/// winning and the others writing again, queue instead: each take is one write. Long enough
/// that a course's burst of calls (80 lessons reserving about 4,000 tokens each, say, against
/// a quota of 40,000 tokens a second) queues at its first write instead of being refused
/// and asking again; the turns of a long queue are taken at the reserved amounts, and the
/// looks of [`crate::quota::Quota`] on the way move them sooner by what comes back.
pub const AHEAD_MS: f64 = 10_000.0;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn callers_refused_together_come_back_spread_over_half_the_horizon() {
        let mut rng = StdRng::seed_from_u64(11);
        let refused = Duration::from_millis(900);
        let waits: Vec<Duration> = (0..200).map(|_| wait_before_asking_again(refused, &mut rng)).collect();
        let (first, last) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        // Two thirds of the way: what other processes give back meanwhile makes the room.
        let expected = refused.mul_f64(2.0 / 3.0);
        assert!(*first >= expected, "not before the take can fit: {first:?}");
        assert!(*last <= expected + Duration::from_millis(REFUSED_SPREAD_MS), "{last:?}");
        assert!(*last - *first > Duration::from_millis(REFUSED_SPREAD_MS / 2), "spread, not all at once");
        // A long refusal is one long sleep, not a look every half second.
        let long = wait_before_asking_again(Duration::from_secs(30), &mut rng);
        assert!(long >= Duration::from_secs(20), "{long:?}");
    }
}
