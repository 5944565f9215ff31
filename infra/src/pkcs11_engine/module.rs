//! A PKCS#11 module (shared library) loaded once per process, however many engines use it.
//!
//! `C_Initialize` and `C_Finalize` act on the whole library: two engines on one module (two
//! tokens of one HSM) share its state. Starting a module afresh, which SoftHSM needs before a
//! token that went away is seen again, must wait for every call in flight on it, so calls hold
//! the module's gate for reading and a restart holds it for writing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};

/// A module is started afresh at most this often.
const RESTART_INTERVAL: Duration = Duration::from_secs(1);

static LOADED: Mutex<Option<HashMap<PathBuf, Arc<Module>>>> = Mutex::new(None);

pub(super) struct Gate {
    initialized: bool,
    /// Increases with every start: sessions and handles from an older one are meaningless.
    pub(super) epoch: u64,
    restarted: Option<Instant>,
}

pub(super) struct Module {
    pub(super) context: Pkcs11,
    gate: RwLock<Gate>,
}

impl Module {
    /// The module at `path`, loaded on first use.
    pub(super) fn load(path: &Path) -> Result<Arc<Module>, Error> {
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        let modules = loaded.get_or_insert_with(HashMap::new);
        if let Some(module) = modules.get(path) {
            return Ok(module.clone());
        }
        let module = Arc::new(Module {
            context: Pkcs11::new(path)?,
            gate: RwLock::new(Gate { initialized: false, epoch: 0, restarted: None }),
        });
        modules.insert(path.to_path_buf(), module.clone());
        Ok(module)
    }

    /// The gate held for a call: the module is initialised while it is held.
    pub(super) fn enter(&self) -> Result<RwLockReadGuard<'_, Gate>, Error> {
        {
            let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            if gate.initialized {
                return Ok(gate);
            }
        }
        {
            let mut gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
            if !gate.initialized {
                self.initialize(&mut gate)?;
            }
        }
        Ok(self.gate.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Finalizes and initialises the module again, unless it was restarted since `epoch` or
    /// less than a second ago (then how long until it may be). Waits for the calls in flight on it.
    pub(super) fn restart(&self, epoch: u64) -> Result<(), Duration> {
        let mut gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        if gate.epoch != epoch {
            return Ok(());
        }
        if let Some(at) = gate.restarted.filter(|at| at.elapsed() < RESTART_INTERVAL) {
            return Err(RESTART_INTERVAL.saturating_sub(at.elapsed()));
        }
        if gate.initialized {
            let _ = self.context.clone().finalize();
            gate.initialized = false;
        }
        gate.restarted = Some(Instant::now());
        if let Err(e) = self.initialize(&mut gate) {
            tracing::warn!(error = %e, "PKCS#11 module does not initialise again");
        }
        Ok(())
    }

    fn initialize(&self, gate: &mut Gate) -> Result<(), Error> {
        match self.context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                gate.initialized = true;
                gate.epoch += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
