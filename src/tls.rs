//! TLS for `rediss://`, with rustls (the `tls` feature): the application's process-wide
//! crypto provider when it installed one, else aws-lc-rs.
//!
//! Builds a rustls client configuration from [`TlsOptions`]: the trusted roots (the
//! system's, or the CA certificates given), the client certificate for mutual TLS, and
//! how the server's certificate is checked. Configurations are built once per set of
//! options and shared.

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};

use crate::connection::{CertReqs, TlsOptions};
use crate::error::{Error, ErrorKind, Result};

/// The configuration for `options`, built on first use.
pub(crate) fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    static BUILT: Mutex<Vec<(TlsOptions, Arc<ClientConfig>)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, config)) = built.iter().find(|(o, _)| o == options) {
        return Ok(Arc::clone(config));
    }
    let config = Arc::new(build(options)?);
    built.push((options.clone(), Arc::clone(&config)));
    Ok(config)
}

/// The crypto provider: the process-wide one when the application installed one (its
/// choice of ring, aws-lc-rs or a FIPS build), else aws-lc-rs's default.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Tls, message.into())
}

fn build(options: &TlsOptions) -> Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("cannot set up TLS: {e}")))?;
    let builder = match (options.cert_reqs, options.check_hostname) {
        (CertReqs::None, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
        (CertReqs::Required | CertReqs::Optional, true) => {
            builder.with_root_certificates(roots(options)?)
        }
        (CertReqs::Required | CertReqs::Optional, false) => {
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(options)?), provider)
                    .build()
                    .map_err(|e| tls_error(format!("cannot set up certificate checks: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostname(verifier)))
        }
    };
    match (&options.certfile, &options.keyfile) {
        (Some(certfile), Some(keyfile)) => {
            let certs = CertificateDer::pem_file_iter(certfile)
                .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
                .map_err(|e| {
                    Error::invalid_input(format!(
                        "cannot read the client certificate {}: {e}",
                        certfile.display()
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| {
                Error::invalid_input(format!(
                    "cannot read the client key {}: {e}",
                    keyfile.display()
                ))
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error(format!("unusable client certificate or key: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(Error::invalid_input(
            "mutual TLS needs both ssl_certfile and ssl_keyfile",
        )),
    }
}

/// The CA certificates given, or the system's.
fn roots(options: &TlsOptions) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    if options.ca_certs.is_none() && options.ca_data.is_none() {
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
        if store.is_empty() {
            return Err(tls_error(
                "no trusted root certificates found on this system; give ssl_ca_certs",
            ));
        }
        return Ok(store);
    }
    let mut certs = Vec::new();
    if let Some(path) = &options.ca_certs {
        let from_file = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
            .map_err(|e| {
                Error::invalid_input(format!("cannot read ssl_ca_certs {}: {e}", path.display()))
            })?;
        certs.extend(from_file);
    }
    if let Some(pem) = &options.ca_data {
        let from_text = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid_input(format!("cannot read ssl_ca_data: {e}")))?;
        certs.extend(from_text);
    }
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| Error::invalid_input(format!("unusable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// The name the server's certificate must carry, and the SNI sent.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::invalid_input(format!("{host:?} is not a valid TLS server name")))
}

/// Runs the TLS handshake over a connected socket.
pub(crate) fn connect_sync(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
) -> Result<StreamOwned<ClientConnection, TcpStream>> {
    let connection = ClientConnection::new(client_config(options)?, server_name(host)?)
        .map_err(|e| tls_error(format!("cannot start TLS with {host}: {e}")))?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| handshake_error(host, e))?;
    }
    Ok(stream)
}

/// A failed handshake: a certificate or protocol problem is a TLS error, the rest IO.
pub(crate) fn handshake_error(host: &str, e: io::Error) -> Error {
    let is_tls = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if is_tls {
        tls_error(format!("TLS handshake with {host} failed: {e}"))
    } else {
        Error::io(format!("TLS handshake with {host} failed"), e)
    }
}

/// Accepts any certificate: `ssl_cert_reqs=none`. Signatures are still checked, so the
/// handshake is sound; who signed is not.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the certificate chain but not the name in it: `ssl_check_hostname=false`.
#[derive(Debug)]
struct AnyHostname(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
