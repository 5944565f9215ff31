//! The KMS calls the engine makes, run on a runtime of the engine's own: the engine port is
//! synchronous (callers run it on blocking threads), and the SDK is asynchronous.

use std::future::Future;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
pub(super) use aws_sdk_kms::types::MessageType;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};
use serde::Deserialize;

/// `[[engines]]` settings of an `aws_kms` engine beyond id, type and level.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsSettings {
    /// Else the AWS default chain (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// Any KMS-compatible endpoint; else AWS's own for the region.
    pub endpoint_url: Option<String>,
    /// A named profile of the shared AWS config files; else the default chain.
    pub profile: Option<String>,
    /// Keys are named `alias/<alias_prefix>/<key id>`.
    #[serde(default = "default_prefix")]
    pub alias_prefix: String,
    /// Days KMS waits before deleting a key Shedu deleted (7 to 30).
    #[serde(default = "default_window")]
    pub deletion_window_days: i32,
}

fn default_prefix() -> String {
    "shedu".into()
}

fn default_window() -> i32 {
    7
}

/// Why a call failed, as the engine needs to tell it.
#[derive(Debug)]
pub(super) enum KmsFailure {
    /// No response: the endpoint is down, slow or unreachable.
    Unreachable(String),
    /// The key or alias does not exist (or is pending deletion).
    NotFound(String),
    /// KMS answered with a refusal.
    Refused(String),
}

pub(super) struct Kms {
    client: aws_sdk_kms::Client,
    /// Always `Some` until dropped: taken then, to shut down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Kms {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> KmsFailure {
    match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            KmsFailure::Unreachable(format!("no answer from KMS: {}", aws_sdk_kms::error::DisplayErrorContext(&error)))
        }
        _ => {
            let code = error.code().unwrap_or("unknown").to_owned();
            let message = format!("{code}: {}", error.message().unwrap_or(""));
            match code.as_str() {
                "NotFoundException" | "KMSInvalidStateException" => KmsFailure::NotFound(message),
                _ => KmsFailure::Refused(message),
            }
        }
    }
}

fn missing(what: &str) -> KmsFailure {
    KmsFailure::Refused(format!("KMS's answer has no {what}"))
}

impl Kms {
    pub(super) fn new(settings: &KmsSettings) -> Result<Self, String> {
        if !(7..=30).contains(&settings.deletion_window_days) {
            return Err("deletion_window_days must be between 7 and 30".into());
        }
        if settings.alias_prefix.is_empty()
            || settings.alias_prefix.starts_with("aws")
            || !settings.alias_prefix.chars().all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
        {
            return Err("alias_prefix must be letters, digits, '/', '_' or '-', and not start with 'aws'".into());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shedu-kms")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the KMS client's runtime: {e}"))?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(15))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile.clone());
        }
        let config = on(&runtime, loader.load())?;
        if config.region().is_none() {
            return Err("no AWS region: set region in the engine's settings, or AWS_REGION".into());
        }
        Ok(Kms { client: aws_sdk_kms::Client::new(&config), runtime: Some(runtime) })
    }

    fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> Result<T, KmsFailure> {
        let runtime = self.runtime.as_ref().ok_or_else(|| KmsFailure::Unreachable("shutting down".into()))?;
        on(runtime, work).map_err(KmsFailure::Unreachable)
    }

    pub(super) fn reachable(&self) -> Result<(), KmsFailure> {
        let client = self.client.clone();
        self.run(async move { client.list_keys().limit(1).send().await })?.map(|_| ()).map_err(failure)
    }

    /// A new signing key of `spec`: its KMS key id and its SubjectPublicKeyInfo.
    pub(super) fn create_key(&self, spec: KeySpec) -> Result<(String, Vec<u8>), KmsFailure> {
        let client = self.client.clone();
        self.run(async move {
            let created = client
                .create_key()
                .key_spec(spec)
                .key_usage(KeyUsageType::SignVerify)
                .description("Shedu CA key")
                .send()
                .await
                .map_err(failure)?;
            let key = created.key_metadata().map(|m| m.key_id().to_owned()).ok_or_else(|| missing("key id"))?;
            let public = client.get_public_key().key_id(&key).send().await.map_err(failure)?;
            let spki = public.public_key().map(|b| b.as_ref().to_vec()).ok_or_else(|| missing("public key"))?;
            Ok((key, spki))
        })?
    }

    pub(super) fn create_alias(&self, alias: &str, key: &str) -> Result<(), KmsFailure> {
        let (client, alias, key) = (self.client.clone(), alias.to_owned(), key.to_owned());
        self.run(async move { client.create_alias().alias_name(alias).target_key_id(key).send().await })?
            .map(|_| ())
            .map_err(failure)
    }

    pub(super) fn public_key(&self, key: &str) -> Result<Vec<u8>, KmsFailure> {
        let (client, key) = (self.client.clone(), key.to_owned());
        let public = self.run(async move { client.get_public_key().key_id(key).send().await })?.map_err(failure)?;
        public.public_key().map(|b| b.as_ref().to_vec()).ok_or_else(|| missing("public key"))
    }

    /// Signs `body`: the message itself (`MessageType::Raw`) or its digest (`Digest`).
    pub(super) fn sign(
        &self,
        key: &str,
        message_type: MessageType,
        body: Vec<u8>,
        algorithm: SigningAlgorithmSpec,
    ) -> Result<Vec<u8>, KmsFailure> {
        let (client, key) = (self.client.clone(), key.to_owned());
        let signed = self.run(async move {
            client
                .sign()
                .key_id(key)
                .message(Blob::new(body))
                .message_type(message_type)
                .signing_algorithm(algorithm)
                .send()
                .await
        })?;
        signed.map_err(failure)?.signature().map(|b| b.as_ref().to_vec()).ok_or_else(|| missing("signature"))
    }

    /// Removes the alias and schedules the key's deletion.
    pub(super) fn delete(&self, alias: &str, window_days: i32) -> Result<(), KmsFailure> {
        let (client, alias) = (self.client.clone(), alias.to_owned());
        self.run(async move {
            let described = client.describe_key().key_id(&alias).send().await.map_err(failure)?;
            let key = described.key_metadata().map(|m| m.key_id().to_owned()).ok_or_else(|| missing("key id"))?;
            client.delete_alias().alias_name(&alias).send().await.map_err(failure)?;
            client
                .schedule_key_deletion()
                .key_id(key)
                .pending_window_in_days(window_days)
                .send()
                .await
                .map_err(failure)?;
            Ok(())
        })?
    }

    pub(super) fn schedule_deletion(&self, key: &str, window_days: i32) -> Result<(), KmsFailure> {
        let (client, key) = (self.client.clone(), key.to_owned());
        self.run(
            async move { client.schedule_key_deletion().key_id(key).pending_window_in_days(window_days).send().await },
        )?
        .map(|_| ())
        .map_err(failure)
    }
}

/// Runs `work` on `runtime` and waits for it from any thread, async or not.
fn on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(work.await);
    });
    receiver.recv().map_err(|_| "the KMS call was abandoned".to_string())
}
