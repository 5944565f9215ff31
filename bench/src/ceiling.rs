//! The physical limit on this machine: the work of one issuance done in-process in a tight loop
//! on every core — parse the CSR, verify its signature, build and sign the certificate with rcgen
//! (ECDSA P-256 CA) — with no HTTP, no storage.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

pub(crate) fn certs_per_second(csrs_der: Arc<Vec<Vec<u8>>>, threads: usize, duration: Duration) -> f64 {
    let ca_key = Arc::new(KeyPair::generate().expect("CA key"));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_params = Arc::new(ca_params);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (csrs, ca_key, ca_params, done) = (csrs_der.clone(), ca_key.clone(), ca_params.clone(), done.clone());
            std::thread::spawn(move || {
                let issuer = Issuer::from_params(&ca_params, &*ca_key);
                let mut i = t;
                while started.elapsed() < duration {
                    let der = &csrs[i % csrs.len()];
                    i += threads;
                    let Ok((_, csr)) = X509CertificationRequest::from_der(der) else { continue };
                    if csr.verify_signature().is_err() {
                        continue;
                    }
                    let Ok(public) =
                        rcgen::SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
                    else {
                        continue;
                    };
                    let mut params = CertificateParams::new(vec!["device.example.test".to_owned()]).expect("params");
                    params.not_before = time::OffsetDateTime::now_utc();
                    params.not_after = params.not_before + time::Duration::days(365);
                    params.serial_number = Some(uuid::Uuid::new_v4().as_bytes().to_vec().into());
                    params.is_ca = IsCa::ExplicitNoCa;
                    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                    params.use_authority_key_identifier_extension = true;
                    params.key_identifier_method = KeyIdMethod::Sha256;
                    if params.signed_by(&public, &issuer).is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
