//! The development PKI in the data directory.
//!
//! First start creates an ECDSA P-256 CA (`ca.pem`, `ca-key.pem`); every start issues a fresh
//! server certificate from it whose SANs cover every configured host name, `127.0.0.1` and
//! `::1`, so adding a `--hostname` never needs manual steps. Devices trust `ca.pem`. The CA
//! stays loaded while the server runs, so a hub created later gets a certificate for its
//! host name on its first handshake (see `hub_certificates`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The server's certificate chain and key, ready for rustls.
pub struct ServerIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The development CA that signed `chain`, to sign certificates for hubs created while
    /// running; `None` for a certificate the operator supplied, which is served for every
    /// name because we cannot sign another like it.
    pub ca: Option<Arc<DevCa>>,
}

pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ca.pem")
}

/// The development CA, loaded once.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

/// A server certificate issued by the development CA.
pub struct IssuedServerCert {
    /// The leaf, then the CA (as devices' TLS stacks expect a full chain).
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The same chain and key as PEM, for `server.pem` and `server-key.pem`.
    pub chain_pem: String,
    pub key_pem: String,
}

impl DevCa {
    /// Loads `ca.pem` and `ca-key.pem`, creating them first if either is missing.
    pub fn open_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let ca_pem_path = ca_path(data_dir);
        let ca_key_path = data_dir.join("ca-key.pem");
        if !ca_pem_path.exists() || !ca_key_path.exists() {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let cert = ca_params()?.self_signed(&key)?;
            write_private(&ca_key_path, &key.serialize_pem())?;
            std::fs::write(&ca_pem_path, cert.pem())
                .with_context(|| format!("cannot write {}", ca_pem_path.display()))?;
        }
        let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key_path)?)
            .context("ca-key.pem is not a valid key")?;
        let pem = std::fs::read_to_string(&ca_pem_path)?;
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .context("ca.pem is not a PEM certificate")?;
        let issuer = Issuer::from_ca_cert_pem(&pem, ca_key)
            .context("ca.pem is not a valid CA certificate")?;
        Ok(Self { issuer, pem, der })
    }

    /// A server certificate whose SANs are `hostnames` (the first is also the CN),
    /// `127.0.0.1` and `::1`, valid for a year.
    pub fn issue_server(&self, hostnames: &[String]) -> anyhow::Result<IssuedServerCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            hostnames.first().map_or("localhost", String::as_str),
        );
        params.distinguished_name = dn;
        for h in hostnames {
            params.subject_alt_names.push(match h.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    h.as_str()
                        .try_into()
                        .with_context(|| format!("{h} is not a valid host name"))?,
                ),
            });
        }
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedServerCert {
            chain: vec![cert.der().clone(), self.der.clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            chain_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Makes sure the CA exists, then issues the server certificate for `hostnames` and writes
/// it to `server.pem` / `server-key.pem`.
pub fn ensure_dev_identity(
    data_dir: &Path,
    hostnames: &[String],
) -> anyhow::Result<ServerIdentity> {
    let ca = DevCa::open_or_create(data_dir)?;
    let issued = ca.issue_server(hostnames)?;
    let server_pem = data_dir.join("server.pem");
    std::fs::write(&server_pem, &issued.chain_pem)
        .with_context(|| format!("cannot write {}", server_pem.display()))?;
    write_private(&data_dir.join("server-key.pem"), &issued.key_pem)?;
    Ok(ServerIdentity {
        chain: issued.chain,
        key: issued.key,
        ca: Some(Arc::new(ca)),
    })
}

/// Loads a chain and key the operator supplied (`--tls-cert`, `--tls-key`); it is served
/// for every name, since we cannot sign another like it.
pub fn load_identity(cert: &Path, key: &Path) -> anyhow::Result<ServerIdentity> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    Ok(ServerIdentity {
        chain,
        key,
        ca: None,
    })
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ferrohub development CA");
    dn.push(DnType::OrganizationName, "ferrohub");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    Ok(params)
}

/// Writes a secret readable by the owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
