//! Importing an existing CA certificate, with its private key (it can sign) or without (a trust
//! anchor). Its parent, if Shedu knows it, is found by AKI/issuer name and a signature check.

use shedu_domain::DomainError;
use shedu_domain::ca::{
    Ca, CaCommand, CaType, Custody, KeyRef, NewCa, Placement, SecurityLevel, check_id_free, ensure_importable,
    place_import,
};
use shedu_domain::certificate::CertificateInfo;
use shedu_domain::ids::CaId;
use time::OffsetDateTime;

use super::create::id_or_new;
use super::requests::ImportCa;
use super::{CaService, blocking};
use crate::CommandError;
use crate::context::{CommandContext, Outcome};
use crate::event_store::StoreError;
use crate::once::exactly_once;
use crate::profile_service::existing_profile;
use crate::x509::parse::{
    Link, certificate_info, certificates_from_pem, check_constraints, check_names, link, spki_der,
};

impl CaService {
    pub async fn import_ca(&self, ctx: &CommandContext, request: ImportCa) -> Result<Outcome<Ca>, CommandError> {
        exactly_once(self.store.as_ref(), ctx, self.import_once(ctx, request)).await
    }

    async fn import_once(&self, ctx: &CommandContext, request: ImportCa) -> Result<Outcome<Ca>, CommandError> {
        let now = self.clock.now();
        if let Some(profile_id) = &request.profile_id {
            existing_profile(self.store.as_ref(), profile_id).await?;
        }
        let ders = certificates_from_pem(&request.certificate_pem, "certificate")?;
        let [der] = &ders[..] else {
            return Err(DomainError::invalid("certificate", "expected exactly one certificate").into());
        };
        let ca_type =
            if request.private_key_pem.is_some() { CaType::ImportedWithKey } else { CaType::ImportedWithoutKey };
        let certificate = self.importable(der, ca_type).await?;
        let id = id_or_new(request.id.clone())?;
        check_id_free(&id, self.cas.load(&id).await?.state.as_ref())?;
        // The key first: a key that is unreadable or not the certificate's refuses the import
        // before anything of it, its chain included, is appended.
        let custody = match request.private_key_pem {
            Some(private_key_pem) => {
                let engine = self.engines.resolve(request.engine_id.as_ref())?;
                let (spki, info) = (spki_der(der)?, engine.info().clone());
                let public = blocking(move || Ok(engine.import_key(&private_key_pem, &spki)?)).await?;
                let key = KeyRef { engine_id: info.id, key_id: public.key_id };
                Some(Custody { key, security_level: info.security_level })
            }
            None => None,
        };
        let imported_key = custody.as_ref().map(|c| c.key.clone());
        let result = async {
            if let Some(chain) = &request.chain_pem {
                // The chain's CAs are appended each on its own, before the request's own append,
                // which alone carries its key: a retry finds those already here and skips them.
                let unkeyed = CommandContext { request_key: None, ..ctx.clone() };
                self.import_chain(&unkeyed, chain, der, now).await?;
            }
            let level = custody.as_ref().map(|c| c.security_level);
            let placement = self.placement(&id, der, &certificate, level, now).await?;
            let new = NewCa::imported(id, certificate, placement, custody, request.profile_id, request.metadata);
            self.commit_new_ca(ctx, CaCommand::Import(new), vec![], now).await
        }
        .await;
        if let (Err(e), Some(key)) = (&result, imported_key) {
            self.discard_imported_key(e, key).await;
        }
        result
    }

    /// The certificate's facts, if it can become a CA here: readable names, able to issue, and
    /// not a CA already.
    async fn importable(&self, der: &[u8], ca_type: CaType) -> Result<CertificateInfo, CommandError> {
        let certificate = certificate_info(der, "certificate")?;
        check_names(der, "certificate")?;
        ensure_importable(&certificate, ca_type)?;
        check_constraints(der, ca_type)?;
        if let Some(existing) = self.existing_ca(der, &certificate).await? {
            return Err(DomainError::AlreadyImported { existing }.into());
        }
        Ok(certificate)
    }

    /// Where the certificate goes: a root, under the CA that issued it, or an orphan.
    async fn placement(
        &self,
        id: &CaId,
        der: &[u8],
        certificate: &CertificateInfo,
        key_level: Option<SecurityLevel>,
        now: OffsetDateTime,
    ) -> Result<Placement, CommandError> {
        let own = link(der, der);
        let issuer = if own == Link::Issued { None } else { self.find_issuer(der, certificate).await? };
        // Self-issued (its own subject as issuer) yet neither self-signed nor signed by a CA of
        // that name here: its signature is broken or forged.
        if own == Link::Forged && issuer.is_none() {
            return Err(DomainError::SelfSignatureInvalid.into());
        }
        // A key brought in is held to the same rules as one made here.
        match (key_level, own == Link::Issued) {
            (Some(level), true) => self.policy.check_root(level)?,
            (Some(level), false) => self.policy.check_subordinate(level, issuer.as_ref())?,
            (None, _) => {}
        }
        Ok(place_import(id, certificate, own == Link::Issued, issuer.as_ref(), now)?)
    }

    /// Imports, as trust anchors, the CAs of `chain` that Shedu does not hold yet, each after the
    /// CA that issued it, so that the certificate being imported (`der`, skipped if the chain
    /// holds it) finds its parent. A chain CA already here is used as it is.
    async fn import_chain(
        &self,
        ctx: &CommandContext,
        chain: &str,
        der: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), CommandError> {
        let mut pending: Vec<Vec<u8>> = certificates_from_pem(chain, "chain")?;
        pending.retain(|member| member != der);
        while !pending.is_empty() {
            // Next: one whose issuer is not among those still pending (a root, or one whose
            // issuer is here or unknown); a chain whose members all wait for each other is a loop.
            let next = (0..pending.len())
                .find(|&i| {
                    !pending.iter().enumerate().any(|(j, other)| j != i && link(&pending[i], other) != Link::Unrelated)
                })
                .ok_or_else(|| DomainError::invalid("chain", "its certificates issue each other in a loop"))?;
            let member = pending.remove(next);
            let certificate = certificate_info(&member, "chain")?;
            if self.existing_ca(&member, &certificate).await?.is_some() {
                continue;
            }
            check_names(&member, "chain")?;
            ensure_importable(&certificate, CaType::ImportedWithoutKey)?;
            let id = id_or_new(None)?;
            let placement = self.placement(&id, &member, &certificate, None, now).await?;
            let new = NewCa::imported(id, certificate, placement, None, None, Default::default());
            self.commit_new_ca(ctx, CaCommand::Import(new), vec![], now).await?;
        }
        Ok(())
    }

    /// A refused import leaves no key behind, unless another CA uses the same key or the store
    /// did not answer (the CA may have been recorded).
    async fn discard_imported_key(&self, error: &CommandError, key: KeyRef) {
        if matches!(error, CommandError::Store(StoreError::Unavailable(_) | StoreError::Unexpected(_))) {
            return;
        }
        match self.lookup.cas_using_key(&key.engine_id, &key.key_id).await {
            Ok(users) if users.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(key_id = %key.key_id, error = %e, "cannot tell whether the key is shared; keeping it");
                return;
            }
        }
        let Ok(engine) = self.engines.resolve(Some(&key.engine_id)) else { return };
        let key_id = key.key_id.clone();
        if let Err(e) = blocking(move || Ok(engine.delete_key(&key_id)?)).await {
            tracing::warn!(key_id = %key.key_id, error = %e, "could not remove the key of a refused import");
        }
    }

    /// The CA whose certificate `der` is, if there is one. One key may back several CAs (a CA
    /// reissued without a new key, a cross-certificate); one certificate only one.
    async fn existing_ca(&self, der: &[u8], certificate: &CertificateInfo) -> Result<Option<CaId>, CommandError> {
        for candidate in self.lookup.cas_with_serial(&certificate.serial_number).await? {
            let Some(ca) = self.cas.load(&candidate).await?.state.filter(|ca| !ca.deleted) else {
                continue;
            };
            if certificates_from_pem(&ca.certificate.pem, "existing")?.first().is_some_and(|existing| existing == der) {
                return Ok(Some(ca.id));
            }
        }
        Ok(None)
    }

    /// The CA in Shedu that issued `der`, if any.
    pub(super) async fn find_issuer(
        &self,
        der: &[u8],
        certificate: &CertificateInfo,
    ) -> Result<Option<Ca>, CommandError> {
        let candidates =
            self.lookup.issuer_candidates(certificate.authority_key_id.as_deref(), &certificate.issuer).await?;
        let mut forged = None;
        for candidate in candidates {
            let Some(ca) = self.cas.load(&candidate).await?.state.filter(|ca| !ca.deleted) else {
                continue;
            };
            let issuer_der = certificates_from_pem(&ca.certificate.pem, "issuer")?.remove(0);
            match link(der, &issuer_der) {
                Link::Issued => return Ok(Some(ca)),
                Link::Forged => forged = Some(ca.id),
                Link::Unrelated => {}
            }
        }
        // It names a CA here as its issuer, yet that CA's key did not sign it.
        match forged {
            Some(issuer) => Err(DomainError::NotSignedByNamedIssuer { issuer }.into()),
            None => Ok(None),
        }
    }
}
