//! One PKCS#11 token, found by its label: a pool of logged-in sessions, and recovery when the
//! token or the module breaks (sessions dropped, the module started afresh and the token found
//! again, rather than failing forever).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use shedu_commands::crypto::EngineError;
use shedu_domain::ids::EngineId;

use super::module::Module;

/// How long a caller waits for a free session before the engine is reported busy.
const SESSION_WAIT: Duration = Duration::from_secs(10);
/// A token that could not be found is looked for again at most this often; meanwhile callers get
/// the last reason at once.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// How often a token in use is asked whether it is still there. Some modules (SoftHSM) go on
/// signing with keys they hold in memory after the token went away, and say so only when asked.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);

/// What a connection to the token knows: its slot and the mechanisms it offers.
#[derive(Debug, Clone)]
pub(super) struct Connection {
    pub(super) slot: Slot,
    pub(super) mechanisms: Vec<MechanismType>,
    /// Increases with every connection: object handles from an older one are stale.
    pub(super) generation: u64,
    /// The module start this connection belongs to.
    epoch: u64,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    idle: Vec<Session>,
    in_use: usize,
    generation: u64,
    /// When the token was last seen present.
    seen: Option<Instant>,
    /// When connecting last failed, in which module start, and why.
    failed: Option<(Instant, u64, String)>,
    /// Why the token refused the PIN. It is never tried again until Shedu restarts: every
    /// wrong try counts toward the token locking its user PIN.
    pin_refused: Option<String>,
}

pub(super) struct Token {
    engine: EngineId,
    module: Arc<Module>,
    label: String,
    pin: AuthPin,
    max_sessions: usize,
    state: Mutex<State>,
    returned: Condvar,
}

/// Why no session could be had.
enum NoSession {
    /// The token could not be found or logged in to: the module may need starting afresh.
    Missing(String),
    Busy(String),
    /// The token refused the PIN: nothing is tried again.
    Refused(String),
}

impl Token {
    pub(super) fn new(engine: EngineId, module: Arc<Module>, label: String, pin: AuthPin, max_sessions: usize) -> Self {
        Token {
            engine,
            module,
            label,
            pin,
            max_sessions: max_sessions.max(1),
            state: Mutex::default(),
            returned: Condvar::new(),
        }
    }

    /// Runs `op` on a logged-in session. An error that says the session, the token or the module
    /// is broken drops every session and runs `op` once more on a fresh connection.
    pub(super) fn run<T>(&self, op: impl Fn(&Session, &Connection) -> Result<T, Error>) -> Result<T, EngineError> {
        let mut reason = String::from("the token broke");
        let mut waited = false;
        for _ in 0..3 {
            let gate = self
                .module
                .enter()
                .map_err(|e| self.unavailable(format!("the PKCS#11 module does not initialise: {}", describe(&e))))?;
            let epoch = gate.epoch;
            let (session, connection) = match self.checkout(epoch) {
                Ok(checked_out) => checked_out,
                Err(NoSession::Busy(why) | NoSession::Refused(why)) => return Err(self.unavailable(why)),
                Err(NoSession::Missing(why)) => {
                    // SoftHSM, for one, sees a token that came back (or was created after the
                    // module started) only after a restart. Another token's restart a moment ago
                    // is waited out once, so that a new token is found on first use.
                    drop(gate);
                    if let Err(wait) = self.module.restart(epoch)
                        && !waited
                    {
                        waited = true;
                        std::thread::sleep(wait);
                        let _ = self.module.restart(epoch);
                    }
                    reason = why;
                    continue;
                }
            };
            let result = match self.due_for_presence_check() {
                true => self.present(&connection).and_then(|()| op(&session, &connection)),
                false => op(&session, &connection),
            };
            match result {
                Err(e) if broken(&e) => {
                    self.broke(connection.generation, session, &e);
                    reason = describe(&e);
                }
                other => {
                    self.checkin(session, connection.generation);
                    return other.map_err(|e| failure(&e));
                }
            }
        }
        Err(self.unavailable(reason))
    }

    /// Whether a presence check is due, marking it done.
    fn due_for_presence_check(&self) -> bool {
        let mut state = self.lock();
        let due = state.seen.is_none_or(|at| at.elapsed() >= PRESENCE_INTERVAL);
        if due {
            state.seen = Some(Instant::now());
        }
        due
    }

    /// Whether the token is still in its slot: a key not found on a token that went away is
    /// the token's absence, not the key's (SoftHSM then finds no objects without an error).
    pub(super) fn present(&self, connection: &Connection) -> Result<(), Error> {
        self.module.context.get_token_info(connection.slot).map(drop)
    }

    /// The current connection, made if there is none.
    pub(super) fn connection(&self) -> Result<Connection, EngineError> {
        self.run(|_, connection| Ok(connection.clone()))
    }

    fn unavailable(&self, reason: String) -> EngineError {
        EngineError::Unavailable { engine: self.engine.clone(), reason }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A session of the module start `epoch`, whose gate the caller holds.
    fn checkout(&self, epoch: u64) -> Result<(Session, Connection), NoSession> {
        let deadline = Instant::now() + SESSION_WAIT;
        let mut state = self.lock();
        loop {
            if state.connection.as_ref().is_some_and(|c| c.epoch != epoch) {
                // The module was started afresh: these handles mean nothing now, and closing
                // them could close another engine's new sessions that reuse the numbers.
                state.connection = None;
                for session in state.idle.drain(..) {
                    std::mem::forget(session);
                }
            }
            if let Some(reason) = &state.pin_refused {
                return Err(NoSession::Refused(reason.clone()));
            }
            if state.connection.is_none() {
                // A module started afresh since may see the token: try at once.
                if let Some((at, failed_epoch, reason)) = &state.failed
                    && at.elapsed() < RECONNECT_INTERVAL
                    && *failed_epoch == epoch
                {
                    return Err(NoSession::Missing(reason.clone()));
                }
                if let Err(reason) = self.connect(&mut state, epoch) {
                    if state.pin_refused.is_some() {
                        return Err(NoSession::Refused(reason));
                    }
                    state.failed = Some((Instant::now(), epoch, reason.clone()));
                    return Err(NoSession::Missing(reason));
                }
                state.failed = None;
            }
            let connection = state.connection.clone().ok_or_else(|| NoSession::Missing("not connected".into()))?;
            if let Some(session) = state.idle.pop() {
                state.in_use += 1;
                return Ok((session, connection));
            }
            if state.in_use < self.max_sessions {
                let session = self.module.context.open_rw_session(connection.slot).map_err(|e| {
                    NoSession::Missing(format!("cannot open a session on token '{}': {}", self.label, describe(&e)))
                })?;
                state.in_use += 1;
                return Ok((session, connection));
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(NoSession::Busy(format!("all {} sessions stayed busy", self.max_sessions)));
            }
            state = self.returned.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn checkin(&self, session: Session, generation: u64) {
        let mut state = self.lock();
        state.in_use = state.in_use.saturating_sub(1);
        if state.connection.as_ref().is_some_and(|c| c.generation == generation) {
            state.idle.push(session);
        } else {
            drop(session);
        }
        self.returned.notify_one();
    }

    /// Forgets the connection `generation` after `error`, unless a newer one replaced it already.
    fn broke(&self, generation: u64, session: Session, error: &Error) {
        let mut state = self.lock();
        state.in_use = state.in_use.saturating_sub(1);
        drop(session);
        if state.connection.as_ref().is_some_and(|c| c.generation == generation) {
            tracing::warn!(engine = %self.engine, token = %self.label, error = %describe(error),
                "PKCS#11 token broke; dropping its sessions and finding it again");
            state.connection = None;
            state.idle.clear();
        }
        self.returned.notify_all();
    }

    /// Finds the token by label and logs in. Slot ids change when a token is re-initialised or
    /// re-inserted, so they are never kept across connections.
    fn connect(&self, state: &mut State, epoch: u64) -> Result<(), String> {
        let context = &self.module.context;
        let slot = self.find_slot()?;
        let session = context.open_rw_session(slot).map_err(|e| format!("cannot open a session: {}", describe(&e)))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            // The PIN is never part of the message.
            Err(
                e @ Error::Pkcs11(
                    RvError::PinIncorrect
                    | RvError::PinInvalid
                    | RvError::PinLenRange
                    | RvError::PinExpired
                    | RvError::PinLocked,
                    _,
                ),
            ) => {
                let reason = format!(
                    "token '{}' refused the PIN ({}); Shedu will not try it again until restarted with the right one, \
                     so as not to lock the token",
                    self.label,
                    describe(&e)
                );
                tracing::error!(engine = %self.engine, token = %self.label, "{reason}");
                state.pin_refused = Some(reason.clone());
                return Err(reason);
            }
            Err(e) => return Err(format!("login to token '{}' failed: {}", self.label, describe(&e))),
        }
        let mechanisms = context
            .get_mechanism_list(slot)
            .map_err(|e| format!("cannot list the token's mechanisms: {}", describe(&e)))?;
        state.generation += 1;
        state.connection = Some(Connection { slot, mechanisms, generation: state.generation, epoch });
        state.idle = vec![session];
        tracing::info!(engine = %self.engine, token = %self.label, slot = slot.id(), "PKCS#11 token connected");
        Ok(())
    }

    fn find_slot(&self) -> Result<Slot, String> {
        let context = &self.module.context;
        let slots = context.get_slots_with_token().map_err(|e| format!("cannot list slots: {}", describe(&e)))?;
        let mut found = slots
            .into_iter()
            .filter(|slot| context.get_token_info(*slot).is_ok_and(|info| info.label().trim_end() == self.label));
        match (found.next(), found.next()) {
            (Some(slot), None) => Ok(slot),
            (None, _) => Err(format!("no token labelled '{}' is present", self.label)),
            (Some(_), Some(_)) => Err(format!("several tokens are labelled '{}'", self.label)),
        }
    }
}

/// Errors after which the session, the token or the module must be found again.
fn broken(error: &Error) -> bool {
    matches!(
        error,
        Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn
                | RvError::GeneralError
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid,
            _
        )
    )
}

/// A PKCS#11 error by its name and function, without the specification's paragraph.
fn describe(error: &Error) -> String {
    match error {
        Error::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
        other => other.to_string(),
    }
}

fn failure(error: &Error) -> EngineError {
    match error {
        Error::Pkcs11(RvError::MechanismInvalid | RvError::KeyTypeInconsistent | RvError::TemplateInconsistent, _) => {
            EngineError::Unsupported(format!("the token refused: {}", describe(error)))
        }
        other => EngineError::Failed(format!("PKCS#11 {}", describe(other))),
    }
}
