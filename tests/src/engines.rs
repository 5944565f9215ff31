//! Real crypto engines for tests: a SoftHSM2 token of their own and a moto KMS endpoint of their
//! own. scripts/test.sh installs both and points `SOFTHSM2_CONF` at a token directory of the
//! suite's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use shedu_infra::config::EngineConfig;

use crate::temp_dir;

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// A PIN no other string in Shedu's output could contain by chance.
pub const HSM_PIN: &str = "7319-hsm-pin-4052";

/// Changes to the token directory are serialised: the new token's directory is the one that
/// appears, and softhsm2-util fails on a token whose directory moves while it scans them.
static INIT: Mutex<()> = Mutex::new(());

/// A SoftHSM token initialised for one test, under a unique label.
pub struct SoftHsmToken {
    pub label: String,
    pub pin_file: PathBuf,
    /// The token's own directory inside SoftHSM's token directory.
    pub token_dir: PathBuf,
}

fn token_root() -> PathBuf {
    let conf = std::env::var("SOFTHSM2_CONF")
        .unwrap_or_else(|_| panic!("SOFTHSM2_CONF is not set: run the suite with scripts/test.sh"));
    let text = std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{conf}: {e}"));
    let line = text.lines().find_map(|l| l.trim().strip_prefix("directories.tokendir")).expect("tokendir in conf");
    PathBuf::from(line.trim_start_matches([' ', '=']).trim())
}

fn subdirectories(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default()
}

impl SoftHsmToken {
    pub fn new() -> SoftHsmToken {
        let label = format!("shedu-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let root = token_root();
        let _turn = INIT.lock().unwrap_or_else(|p| p.into_inner());
        let before = subdirectories(&root);
        let output = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &label, "--pin", HSM_PIN, "--so-pin", "5678-so"])
            .output()
            .unwrap_or_else(|e| panic!("softhsm2-util is required (scripts/test.sh installs softhsm2): {e}"));
        assert!(output.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&output.stderr));
        let token_dir = subdirectories(&root).into_iter().find(|d| !before.contains(d)).expect("new token directory");
        let pin_file = temp_dir("hsm-pin").join("pin");
        std::fs::write(&pin_file, HSM_PIN).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&pin_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        SoftHsmToken { label, pin_file, token_dir }
    }

    pub fn engine(&self, id: &str) -> EngineConfig {
        EngineConfig {
            id: id.into(),
            kind: "pkcs11".into(),
            module: Some(SOFTHSM_MODULE.into()),
            token_label: Some(self.label.clone()),
            pin_file: Some(self.pin_file.clone()),
            ..EngineConfig::default()
        }
    }

    /// `pkcs11-tool -O` on this token, logged in: every object with its attributes.
    pub fn objects(&self) -> String {
        let output = Command::new("pkcs11-tool")
            .args(["--module", SOFTHSM_MODULE, "--token-label", &self.label, "--login", "--pin", HSM_PIN, "-O"])
            .output()
            .unwrap_or_else(|e| panic!("pkcs11-tool is required (scripts/test.sh installs opensc): {e}"));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Whether the token still takes its PIN (a locked user PIN would not).
    pub fn logs_in(&self) -> bool {
        Command::new("pkcs11-tool")
            .args(["--module", SOFTHSM_MODULE, "--token-label", &self.label, "--login", "--pin", HSM_PIN, "-O"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The attribute block `pkcs11-tool -O` prints for the object labelled `label`.
    pub fn object(&self, kind: &str, key_id: &str) -> Option<String> {
        let label = format!("label:      shedu-{key_id}");
        self.objects()
            .split("\n\n")
            .flat_map(|block| block.split(&format!("{kind} Object")).skip(1).map(str::to_owned).collect::<Vec<_>>())
            .find(|block| block.contains(&label))
    }

    /// Takes the token away (as if removed), and returns a handle that puts it back.
    pub fn remove(&self) -> PathBuf {
        // Out of the token directory: SoftHSM takes any directory in it for a token.
        let name = self.token_dir.file_name().expect("token directory name");
        let away = self.token_dir.parent().and_then(Path::parent).expect("token root's parent").join(name);
        let _turn = INIT.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::rename(&self.token_dir, &away).unwrap();
        away
    }

    pub fn put_back(&self, away: &Path) {
        let _turn = INIT.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::rename(away, &self.token_dir).unwrap();
    }
}

impl Default for SoftHsmToken {
    fn default() -> Self {
        Self::new()
    }
}

/// A moto server (a local AWS KMS endpoint) on a free port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub async fn start() -> Moto {
        let binary = std::env::var("SHEDU_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto is required (scripts/test.sh installs it into a virtualenv): {binary}: {e}")
            });
        let url = format!("http://127.0.0.1:{port}");
        let moto = Moto { child, url };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{}/moto-api/", moto.url)).send().await.is_ok() {
                return moto;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto did not start on port {port}");
    }

    pub fn engine(&self, id: &str) -> EngineConfig {
        EngineConfig {
            id: id.into(),
            kind: "aws_kms".into(),
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.url.clone()),
            ..EngineConfig::default()
        }
    }

    /// The state KMS reports for the key an alias names, or `None` when the alias is gone.
    pub async fn key_state(&self, alias: &str) -> Option<String> {
        let body = serde_json::json!({ "KeyId": alias });
        let reply = reqwest::Client::new()
            .post(&self.url)
            .header("X-Amz-Target", "TrentService.DescribeKey")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
            .body(body.to_string())
            .send()
            .await
            .expect("moto answers");
        let value: serde_json::Value = reply.json().await.expect("JSON");
        value["KeyMetadata"]["KeyState"].as_str().map(str::to_owned)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
