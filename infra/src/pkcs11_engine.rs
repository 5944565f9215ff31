//! The PKCS#11 crypto engine: keys generated on a token (SoftHSM2, a YubiHSM, a network HSM) as
//! sensitive and never extractable, found by `CKA_ID` = the key id, and used there. Nothing but
//! public keys and signatures leaves the token (docs/adr/0022).
//!
//! ECDSA is hashed here and signed with `CKM_ECDSA` (which every token offers; SoftHSM 2.6
//! refuses `CKM_ECDSA_SHA256`), and the raw `r‖s` is DER-encoded for X.509.

mod module;
mod objects;
mod token;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::types::AuthPin;
use rcgen::PublicKeyData;
use sha2::{Digest, Sha256};
use shedu_commands::crypto::{CryptoEngine, EngineError, EngineInfo, EngineKind, PublicKey, SupportedKeyType};
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::{EngineId, KeyId};
use shedu_domain::key::{KeySpec, KeyType};

use self::module::Module;
use self::objects::{find, generation_attributes, object_id, private_template, public_template, read_public};
use self::token::{Connection, Token};
use crate::key_der::{digest, ecdsa_signature};
use crate::private_key_pem;

/// What a key id maps to on the current connection.
#[derive(Clone, Copy)]
struct Handles {
    generation: u64,
    private: ObjectHandle,
    spec: KeySpec,
}

pub struct Pkcs11Engine {
    info: EngineInfo,
    token: Token,
    handles: Mutex<HashMap<KeyId, Handles>>,
    /// Public keys read from the token: a key id names one public key for good (it is the hash
    /// of it), and issuance asks for it on every certificate.
    publics: Mutex<HashMap<KeyId, PublicKey>>,
}

/// Where and how to reach a token.
pub struct Pkcs11Settings<'a> {
    pub module: &'a Path,
    pub token_label: String,
    pub pin: AuthPin,
    pub max_sessions: usize,
}

impl Pkcs11Engine {
    /// Loads the module. A module that does not load is a configuration error; a token that is
    /// not present yet is not: the engine reports itself unavailable until it is.
    pub fn new(id: EngineId, security_level: SecurityLevel, settings: Pkcs11Settings<'_>) -> Result<Self, String> {
        let module = Module::load(settings.module)
            .map_err(|e| format!("engine '{id}': cannot load the PKCS#11 module {}: {e}", settings.module.display()))?;
        let token = Token::new(id.clone(), module, settings.token_label, settings.pin, settings.max_sessions);
        let engine = Pkcs11Engine {
            info: EngineInfo { id, kind: EngineKind::Pkcs11, security_level },
            token,
            handles: Mutex::default(),
            publics: Mutex::default(),
        };
        if let Err(e) = engine.token.connection() {
            tracing::warn!(engine = %engine.info.id, error = %e, "PKCS#11 token not available at start");
        }
        Ok(engine)
    }

    fn cached(&self, key_id: &KeyId, generation: u64) -> Option<Handles> {
        let handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        handles.get(key_id).copied().filter(|h| h.generation == generation)
    }

    fn remember(&self, key_id: &KeyId, handles: Handles) {
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).insert(key_id.clone(), handles);
    }

    fn forget(&self, key_id: &KeyId) {
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).remove(key_id);
        self.publics.lock().unwrap_or_else(|p| p.into_inner()).remove(key_id);
    }

    /// The public key with `CKA_ID` `id`, as Shedu names it.
    fn public_of(
        &self,
        session: &cryptoki::session::Session,
        id: &[u8],
    ) -> Result<Option<PublicKey>, cryptoki::error::Error> {
        let Some(handle) = find(session, ObjectClass::PUBLIC_KEY, id)? else { return Ok(None) };
        let (spki_der, spec) = match read_public(session, handle)? {
            Ok(read) => read,
            Err(reason) => {
                tracing::warn!(engine = %self.info.id, key = %hex::encode(id), %reason, "unreadable public key");
                return Ok(None);
            }
        };
        let key_id = KeyId::parse(&hex::encode(id)).map_err(|_| cryptoki::error::Error::NotSupported)?;
        Ok(Some(PublicKey { key_id, spki_der, spec }))
    }

    fn mechanism(connection: &Connection, spec: KeySpec) -> Option<Mechanism<'static>> {
        let has = |m: MechanismType| connection.mechanisms.contains(&m);
        match spec.key_type {
            KeyType::Ecdsa if has(MechanismType::ECDSA) => Some(Mechanism::Ecdsa),
            KeyType::Rsa if has(MechanismType::SHA256_RSA_PKCS) => Some(Mechanism::Sha256RsaPkcs),
            KeyType::Rsa if has(MechanismType::RSA_PKCS) => Some(Mechanism::RsaPkcs),
            KeyType::Ed25519 if has(MechanismType::EDDSA) => {
                Some(Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)))
            }
            _ => None,
        }
    }

    /// Puts the key id on a key pair generated under a temporary one.
    fn name_key(
        &self,
        session: &cryptoki::session::Session,
        public: ObjectHandle,
        private: ObjectHandle,
    ) -> Result<Result<PublicKey, String>, cryptoki::error::Error> {
        let (spki_der, spec) = match read_public(session, public)? {
            Ok(read) => read,
            Err(reason) => return Ok(Err(reason)),
        };
        let id = Sha256::digest(&spki_der).to_vec();
        let naming = [Attribute::Id(id.clone()), Attribute::Label(objects::label(&id))];
        session.update_attributes(public, &naming)?;
        session.update_attributes(private, &naming)?;
        let key_id = KeyId::parse(&hex::encode(&id)).map_err(|_| cryptoki::error::Error::NotSupported)?;
        Ok(Ok(PublicKey { key_id, spki_der, spec }))
    }
}

impl CryptoEngine for Pkcs11Engine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn supported_key_types(&self) -> Result<Vec<SupportedKeyType>, EngineError> {
        let connection = self.token.connection()?;
        let has = |m: MechanismType| connection.mechanisms.contains(&m);
        let mut out = Vec::new();
        if has(MechanismType::RSA_PKCS_KEY_PAIR_GEN)
            && (has(MechanismType::SHA256_RSA_PKCS) || has(MechanismType::RSA_PKCS))
        {
            out.push(SupportedKeyType { key_type: KeyType::Rsa, sizes: vec![2048, 3072, 4096] });
        }
        if has(MechanismType::ECC_KEY_PAIR_GEN) && has(MechanismType::ECDSA) {
            out.push(SupportedKeyType { key_type: KeyType::Ecdsa, sizes: vec![256, 384, 521] });
        }
        if has(MechanismType::ECC_EDWARDS_KEY_PAIR_GEN) && has(MechanismType::EDDSA) {
            out.push(SupportedKeyType { key_type: KeyType::Ed25519, sizes: vec![256] });
        }
        Ok(out)
    }

    fn check(&self) -> Result<(), EngineError> {
        self.token.run(|session, _| session.get_session_info().map(|_| ()))
    }

    fn generate_key(&self, spec: KeySpec) -> Result<PublicKey, EngineError> {
        let unsupported =
            || EngineError::Unsupported(format!("{} {} on this token", spec.key_type.as_str(), spec.bits));
        let extra = generation_attributes(spec).ok_or_else(unsupported)?;
        let named = self.token.run(|session, connection| {
            let mechanism = match spec.key_type {
                KeyType::Rsa if connection.mechanisms.contains(&MechanismType::RSA_PKCS_KEY_PAIR_GEN) => {
                    Mechanism::RsaPkcsKeyPairGen
                }
                KeyType::Ecdsa if connection.mechanisms.contains(&MechanismType::ECC_KEY_PAIR_GEN) => {
                    Mechanism::EccKeyPairGen
                }
                KeyType::Ed25519 if connection.mechanisms.contains(&MechanismType::ECC_EDWARDS_KEY_PAIR_GEN) => {
                    Mechanism::EccEdwardsKeyPairGen
                }
                _ => return Ok(None),
            };
            // Generated under a random id, then renamed to the key id its public key gives.
            let mut temporary = [0u8; 16];
            session.generate_random_slice(&mut temporary)?;
            let mut public_attributes = public_template(&temporary);
            public_attributes.extend(extra.iter().cloned());
            let private_attributes = private_template(&temporary);
            let (public, private) = session.generate_key_pair(&mechanism, &public_attributes, &private_attributes)?;
            let named = self.name_key(session, public, private)?;
            if let Ok(key) = &named {
                self.remember(&key.key_id, Handles { generation: connection.generation, private, spec: key.spec });
            }
            Ok(Some(named))
        })?;
        match named {
            None => Err(unsupported()),
            Some(Ok(key)) => Ok(key),
            Some(Err(reason)) => Err(EngineError::Failed(format!("generated key unreadable: {reason}"))),
        }
    }

    fn import_key(&self, private_key_pem: &str, expected_spki_der: &[u8]) -> Result<PublicKey, EngineError> {
        let imported = private_key_pem::read(private_key_pem, expected_spki_der)?;
        let id = Sha256::digest(expected_spki_der).to_vec();
        let (private_parts, public_parts) =
            objects::import_attributes(&imported.der, imported.encoding, imported.key_pair.der_bytes())
                .map_err(EngineError::MalformedKey)?;
        let created = self.token.run(|session, _| {
            // The same key imported again is the key already there.
            if let Some(existing) = self.public_of(session, &id)?
                && find(session, ObjectClass::PRIVATE_KEY, &id)?.is_some()
            {
                return Ok(existing);
            }
            let mut private = private_template(&id);
            private.extend(private_parts.iter().cloned());
            let mut public = public_template(&id);
            public.extend(public_parts.iter().cloned());
            let result = session.create_object(&private).and_then(|_| session.create_object(&public));
            objects::wipe(&mut private);
            result?;
            self.public_of(session, &id)?.ok_or(cryptoki::error::Error::NotSupported)
        });
        let mut private_parts = private_parts;
        objects::wipe(&mut private_parts);
        created.map_err(|e| match e {
            EngineError::Unsupported(m) | EngineError::Failed(m) => {
                EngineError::ImportUnsupported(format!("engine '{}' did not take the private key: {m}", self.info.id))
            }
            other => other,
        })
    }

    fn public_key(&self, key_id: &KeyId) -> Result<PublicKey, EngineError> {
        if let Some(public) = self.publics.lock().unwrap_or_else(|p| p.into_inner()).get(key_id) {
            return Ok(public.clone());
        }
        let id = object_id(key_id.as_str()).map_err(EngineError::Failed)?;
        let public = self
            .token
            .run(|session, connection| {
                let found = self.public_of(session, &id)?;
                if found.is_none() {
                    self.token.present(connection)?;
                }
                Ok(found)
            })?
            .ok_or_else(|| EngineError::KeyNotFound(key_id.clone()))?;
        self.publics.lock().unwrap_or_else(|p| p.into_inner()).insert(key_id.clone(), public.clone());
        Ok(public)
    }

    fn sign(&self, key_id: &KeyId, message: &[u8]) -> Result<Vec<u8>, EngineError> {
        let id = object_id(key_id.as_str()).map_err(EngineError::Failed)?;
        let signed = self.token.run(|session, connection| {
            let handles = match self.cached(key_id, connection.generation) {
                Some(handles) => handles,
                None => {
                    let (Some(private), Some(public)) =
                        (find(session, ObjectClass::PRIVATE_KEY, &id)?, self.public_of(session, &id)?)
                    else {
                        self.token.present(connection)?;
                        return Ok(None);
                    };
                    let handles = Handles { generation: connection.generation, private, spec: public.spec };
                    self.remember(key_id, handles);
                    handles
                }
            };
            let Some(mechanism) = Self::mechanism(connection, handles.spec) else { return Ok(Some(Err(handles.spec))) };
            let input = match &mechanism {
                Mechanism::Ecdsa => digest(handles.spec, message),
                Mechanism::RsaPkcs => objects::digest_info(handles.spec, message),
                _ => message.to_vec(),
            };
            let signature = session.sign(&mechanism, handles.private, &input)?;
            Ok(Some(Ok((signature, handles.spec))))
        })?;
        match signed {
            None => Err(EngineError::KeyNotFound(key_id.clone())),
            Some(Err(spec)) => Err(EngineError::Unsupported(format!(
                "signing with {} {} on this token",
                spec.key_type.as_str(),
                spec.bits
            ))),
            Some(Ok((raw, spec))) if spec.key_type == KeyType::Ecdsa => {
                ecdsa_signature(&raw).map_err(EngineError::Failed)
            }
            Some(Ok((signature, _))) => Ok(signature),
        }
    }

    fn delete_key(&self, key_id: &KeyId) -> Result<(), EngineError> {
        let id = object_id(key_id.as_str()).map_err(EngineError::Failed)?;
        self.forget(key_id);
        self.token.run(|session, _| {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                for handle in session.find_objects(&[Attribute::Class(class), Attribute::Id(id.clone())])? {
                    session.destroy_object(handle)?;
                }
            }
            Ok(())
        })
    }
}
