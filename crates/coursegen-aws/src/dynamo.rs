//! The quota's buckets in a DynamoDB table, shared by every process that names it
//! (`QUOTA_TABLE`): every Lambda instance, every execution, the embedded run.
//!
//! One item per bucket, keyed `pk = "<model id or inference profile>#<requests|tokens|images>"`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `level` | what the bucket held at `last_refill_ms`, refunds not counted |
//! | `credit` | refunds given since the last take read the bucket (the bucket holds `level + credit`, cut at the capacity at read time) |
//! | `last_refill_ms` | wall-clock milliseconds since the Unix epoch of that level |
//! | `capacity`, `per_sec` | the writer's bucket shape (informative: every process computes with its own configuration) |
//! | `version` | bumped by every take; takes are conditional on it |
//!
//! A take reads the buckets (consistent reads), refills and checks them with the same
//! arithmetic as the in-process buckets ([`BucketLevel`]), and writes the new levels
//! conditionally on the versions it read: one `UpdateItem`, or a `TransactWriteItems` of two
//! updates when a call takes from two buckets (requests and tokens), so it takes from both or
//! neither. A concurrent writer makes the condition fail; the take then reads again, at most
//! [`MAX_CONFLICT_RETRIES`] times (after a few random milliseconds each, so the writers that
//! collided do not collide again), then asks the caller to wait a few milliseconds. A refund is
//! an atomic `ADD` to `credit` without reading and without a new version, so refunds never make
//! a take fail: a take folds the credit it read into the level and subtracts just that from
//! `credit`, keeping whatever refunds landed in between. A bucket nobody has written yet is
//! full. The table needs `GetItem` and `UpdateItem` on its items, nothing else.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use rand::Rng;

use crate::buckets::{Admission, BucketError, BucketLevel, BucketSpec, BucketStore, Take};

/// How many times a take reads and writes again after a concurrent writer won, before it asks
/// the caller to wait a few milliseconds.
pub const MAX_CONFLICT_RETRIES: u32 = 8;

/// The partition key attribute of the quota table (a string).
pub const KEY_ATTRIBUTE: &str = "pk";

const LEVEL: &str = "level";
const LAST: &str = "last_refill_ms";
const CAPACITY: &str = "capacity";
const PER_SEC: &str = "per_sec";
const VERSION: &str = "version";
const CREDIT: &str = "credit";

/// Buckets in a DynamoDB table (see the module docs).
#[derive(Debug)]
pub struct DynamoBuckets {
    client: Client,
    table: String,
    /// The last level this process read or wrote per bucket, for [`BucketStore::peek`].
    seen: Mutex<HashMap<String, BucketLevel>>,
    /// Writes that lost to a concurrent writer (for logs and tests).
    conflicts: Mutex<u64>,
}

/// One bucket as read: its level, and the version a write must be conditional on (`None`:
/// there was no item).
#[derive(Debug, Clone, Copy)]
struct Stored {
    /// The bucket's level: `level + credit` as read, at `last_refill_ms`.
    level: BucketLevel,
    version: Option<u64>,
    /// The `credit` read (folded into `level`), which the take subtracts from `credit`.
    credit: f64,
}

/// Why a write did not happen.
enum WriteError {
    /// A concurrent writer changed a bucket since it was read.
    Conflict,
    /// DynamoDB failed.
    Failed(BucketError),
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

    /// Writes that lost to a concurrent writer and were retried, so far.
    pub fn conflicts(&self) -> u64 {
        *self.conflicts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The level of bucket `key` at `now_ms`, read from the table (a full bucket when it has no
    /// item yet).
    pub async fn level(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Result<f64, BucketError> {
        let stored = self.read(key, now_ms).await?;
        Ok(stored.map_or(BucketLevel::full(spec, now_ms), |s| s.level).refilled(spec, now_ms).level)
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<String, BucketLevel>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, key: &str, message: impl Into<String>) -> BucketError {
        BucketError { store: self.describe(), key: key.to_string(), message: message.into() }
    }

    /// The item of bucket `key`, if there is one (a consistent read).
    async fn read(&self, key: &str, now_ms: u64) -> Result<Option<Stored>, BucketError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(key, format!("GetItem failed: {}", DisplayErrorContext(&e))))?;
        let Some(item) = out.item() else { return Ok(None) };
        let number = |name: &str| -> Result<Option<f64>, BucketError> {
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
        };
        // An item without a level (never written by a take) is a full bucket; the refill clamps
        // the infinite level to the capacity.
        let credit = number(CREDIT)?.unwrap_or(0.0);
        let level = number(LEVEL)?.unwrap_or(f64::INFINITY) + credit;
        let last_ms = number(LAST)?.map_or(now_ms, |ms| ms.max(0.0) as u64);
        let version = number(VERSION)?.map(|v| v.max(0.0) as u64);
        Ok(Some(Stored { level: BucketLevel { level, last_ms }, version, credit }))
    }

    /// The conditional update of one planned bucket: to its new level, on condition that it
    /// still has the version read (or still has no item, or still no version).
    fn conditional_update(&self, plan: &Plan<'_>) -> ConditionalUpdate {
        let (spec, level) = (plan.take.spec, plan.after);
        let mut names = HashMap::from([
            ("#level".to_string(), LEVEL.to_string()),
            ("#last".to_string(), LAST.to_string()),
            ("#cap".to_string(), CAPACITY.to_string()),
            ("#rate".to_string(), PER_SEC.to_string()),
            ("#version".to_string(), VERSION.to_string()),
            ("#credit".to_string(), CREDIT.to_string()),
        ]);
        let mut values = HashMap::from([
            (":level".to_string(), number(level.level)),
            (":last".to_string(), AttributeValue::N(level.last_ms.to_string())),
            (":cap".to_string(), number(spec.capacity)),
            (":rate".to_string(), number(spec.per_sec)),
            (":zero".to_string(), AttributeValue::N("0".to_string())),
            (":credit".to_string(), number(plan.before.as_ref().map_or(0.0, |b| b.credit))),
        ]);
        // Only the names and values the expressions use: DynamoDB rejects unused ones.
        let condition = match plan.before {
            None => {
                names.insert("#pk".to_string(), KEY_ATTRIBUTE.to_string());
                values.insert(":next".to_string(), AttributeValue::N("1".to_string()));
                "attribute_not_exists(#pk)"
            }
            Some(Stored { version: None, .. }) => {
                names.insert("#pk".to_string(), KEY_ATTRIBUTE.to_string());
                values.insert(":next".to_string(), AttributeValue::N("1".to_string()));
                "attribute_exists(#pk) AND attribute_not_exists(#version)"
            }
            Some(Stored { version: Some(v), .. }) => {
                values.insert(":next".to_string(), AttributeValue::N(v.saturating_add(1).to_string()));
                values.insert(":version".to_string(), AttributeValue::N(v.to_string()));
                "#version = :version"
            }
        };
        ConditionalUpdate {
            key: HashMap::from([(KEY_ATTRIBUTE.to_string(), AttributeValue::S(plan.take.key.to_string()))]),
            condition,
            names,
            values,
        }
    }

    /// Write every planned level, all or nothing.
    async fn write(&self, plans: &[Plan<'_>]) -> Result<(), WriteError> {
        match plans {
            [] => Ok(()),
            [one] => {
                let u = self.conditional_update(one);
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(u.key))
                    .update_expression(TAKE_EXPRESSION)
                    .condition_expression(u.condition)
                    .set_expression_attribute_names(Some(u.names))
                    .set_expression_attribute_values(Some(u.values))
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                        Err(WriteError::Conflict)
                    }
                    Err(e) => Err(WriteError::Failed(
                        self.error(one.take.key, format!("UpdateItem failed: {}", DisplayErrorContext(&e))),
                    )),
                }
            }
            many => {
                let keys = many.iter().map(|p| p.take.key).collect::<Vec<_>>().join(" + ");
                let mut items = Vec::with_capacity(many.len());
                for p in many {
                    let u = self.conditional_update(p);
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(u.key))
                        .update_expression(TAKE_EXPRESSION)
                        .condition_expression(u.condition)
                        .set_expression_attribute_names(Some(u.names))
                        .set_expression_attribute_values(Some(u.values))
                        .build()
                        .map_err(|e| WriteError::Failed(self.error(p.take.key, format!("invalid update: {e}"))))?;
                    items.push(TransactWriteItem::builder().update(update).build());
                }
                match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                    Ok(_) => Ok(()),
                    Err(e) if is_transaction_conflict(&e) => Err(WriteError::Conflict),
                    Err(e) => Err(WriteError::Failed(
                        self.error(&keys, format!("TransactWriteItems failed: {}", DisplayErrorContext(&e))),
                    )),
                }
            }
        }
    }

    fn count_conflict(&self) {
        *self.conflicts.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }
}

/// The update expression of a take: the new level, its time, the writer's bucket shape, and
/// the next version.
const TAKE_EXPRESSION: &str = "SET #level = :level, #last = :last, #cap = :cap, #rate = :rate, #version = :next, \
     #credit = if_not_exists(#credit, :zero) - :credit";

/// The parts of one conditional update (for `UpdateItem` or inside a transaction).
struct ConditionalUpdate {
    key: HashMap<String, AttributeValue>,
    condition: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// One bucket of a take: what was read, and the level to write.
struct Plan<'a> {
    take: &'a Take<'a>,
    before: Option<Stored>,
    after: BucketLevel,
}

/// A DynamoDB number for `x`, rounded to a millionth (finite values only reach here).
fn number(x: f64) -> AttributeValue {
    let rounded = if x.is_finite() { (x.clamp(-1e15, 1e15) * 1e6).round() / 1e6 } else { 0.0 };
    AttributeValue::N(format!("{rounded}"))
}

/// Whether a cancelled transaction lost to a concurrent writer (a failed condition or a
/// transaction conflict) rather than failing.
fn is_transaction_conflict<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
            .cancellation_reasons()
            .iter()
            .any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict"))),
        Some(other) => other.code() == Some("TransactionConflictException"),
        None => false,
    }
}

#[async_trait]
impl BucketStore for DynamoBuckets {
    async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let mut plans = Vec::with_capacity(takes.len());
            let mut wait = Duration::ZERO;
            for take in takes {
                let before = self.read(take.key, now_ms).await?;
                let current =
                    before.map_or(BucketLevel::full(take.spec, now_ms), |s| s.level).refilled(take.spec, now_ms);
                wait = wait.max(current.wait_for(take.spec, take.amount));
                plans.push(Plan { take, before, after: current });
            }
            {
                let mut seen = self.seen();
                for p in &plans {
                    seen.insert(p.take.key.to_string(), p.after);
                }
            }
            if !wait.is_zero() {
                return Ok(Admission::Wait(wait));
            }
            for p in &mut plans {
                p.after = p.after.taken(p.take.spec, p.take.amount);
            }
            match self.write(&plans).await {
                Ok(()) => {
                    let mut seen = self.seen();
                    for p in &plans {
                        seen.insert(p.take.key.to_string(), p.after);
                    }
                    return Ok(Admission::Taken);
                }
                Err(WriteError::Conflict) => {
                    self.count_conflict();
                    let pause = Duration::from_millis(rand::rng().random_range(1..=8));
                    tokio::time::sleep(pause).await;
                }
                Err(WriteError::Failed(e)) => return Err(e),
            }
        }
        // Heavily contended: let the other writers through, then try again.
        Ok(Admission::Wait(Duration::from_millis(rand::rng().random_range(5..=25))))
    }

    async fn give(&self, key: &str, spec: BucketSpec, amount: f64, now_ms: u64) -> Result<(), BucketError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_string()))
            .update_expression("ADD #credit :amount")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#credit", CREDIT)
            .expression_attribute_names("#pk", KEY_ATTRIBUTE)
            .expression_attribute_values(":amount", number(amount))
            .send()
            .await;
        match result {
            Ok(_) => {}
            // No item: nobody has taken from this bucket, so it is full already.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => return Ok(()),
            Err(e) => return Err(self.error(key, format!("UpdateItem (refund) failed: {}", DisplayErrorContext(&e)))),
        }
        let mut seen = self.seen();
        if let Some(level) = seen.get(key).copied() {
            seen.insert(key.to_string(), level.refilled(spec, now_ms).given(spec, amount));
        }
        Ok(())
    }

    fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64> {
        self.seen().get(key).map(|l| l.refilled(spec, now_ms).level)
    }

    fn describe(&self) -> String {
        format!("dynamodb table {}", self.table)
    }

    fn recheck_interval(&self) -> Option<std::time::Duration> {
        Some(SHARED_RECHECK)
    }
}

/// How often a caller waiting on the shared buckets reads them again: other processes'
/// refunds (the unused part of their reservations) come back without notice, and a caller
/// sleeping until the refill alone covers its reservation would leave them unused. A few
/// reads a second per waiting call.
const SHARED_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);
