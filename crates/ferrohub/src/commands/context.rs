//! What every command needs to find the server: data directory, credentials, CA, address.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ferrohub_protocol::HubName;
use ferrohub_store::HubCatalog;
use ferrohub_store_sqlite::SqliteStore;
use serde::{Deserialize, Serialize};

use crate::cli::Cli;
use crate::client::ApiClient;
use crate::config::DEFAULT_DATA_DIR;
use crate::connection_string::ServiceConnectionString;
use crate::server::{DEFAULT_HUB, database_path};

/// Written by `serve` so CLI commands find the ports it actually bound.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerRecord {
    pub https_port: u16,
    pub mqtt_port: u16,
}

pub fn server_record_path(data_dir: &Path) -> PathBuf {
    data_dir.join("server.json")
}

pub struct Context {
    pub data_dir: PathBuf,
    connection_string: Option<String>,
    ca: Option<PathBuf>,
    api_address: Option<String>,
}

impl Context {
    pub fn from_cli(cli: &Cli) -> Self {
        Self {
            data_dir: cli
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            connection_string: cli.connection_string.clone(),
            ca: cli.ca.clone(),
            api_address: cli.api_address.clone(),
        }
    }

    /// Opens the data directory's database, refusing to create one by accident.
    pub fn open_store(&self) -> anyhow::Result<SqliteStore> {
        let db = database_path(&self.data_dir);
        if !db.exists() {
            bail!(
                "no ferrohub data directory at {} (run `ferrohub serve` first, or pass --data-dir)",
                self.data_dir.display()
            );
        }
        Ok(SqliteStore::open(&db)?)
    }

    /// A service connection string for `policy` of `hub`, read from the data directory.
    pub async fn connection_string_from_data_dir(
        &self,
        hub: Option<&str>,
        policy: &str,
    ) -> anyhow::Result<ServiceConnectionString> {
        let store = self.open_store()?;
        let hub = HubName::new(hub.unwrap_or(DEFAULT_HUB)).context("invalid hub name")?;
        let hubs = store.hubs().await?;
        let record = hubs
            .iter()
            .find(|h| h.name == hub)
            .with_context(|| format!("there is no hub named {hub}"))?;
        let policies = store.policies(hub.clone()).await?;
        let p = policies
            .iter()
            .find(|p| p.name == policy)
            .with_context(|| format!("the hub {hub} has no policy named {policy}"))?;
        Ok(ServiceConnectionString {
            host_name: record.hostname.clone(),
            key_name: p.name.clone(),
            key: p.primary_key.clone(),
        })
    }

    pub async fn credentials(&self) -> anyhow::Result<ServiceConnectionString> {
        match &self.connection_string {
            Some(text) => ServiceConnectionString::parse(text),
            None => {
                self.connection_string_from_data_dir(None, "iothubowner")
                    .await
            }
        }
    }

    /// A REST client acting for `hub`: with --connection-string as given, otherwise with
    /// that hub's owner policy from the data directory. It dials the same address as
    /// `client` and verifies the server under the same name, so a hub whose host name does
    /// not resolve from here can still be managed.
    pub async fn client_for_hub(&self, hub: &str) -> anyhow::Result<ApiClient> {
        let mut client = self.client().await?;
        if self.connection_string.is_none() {
            client.credentials = self
                .connection_string_from_data_dir(Some(hub), "iothubowner")
                .await?;
        }
        Ok(client)
    }

    /// A REST client for the configured hub.
    pub async fn client(&self) -> anyhow::Result<ApiClient> {
        let credentials = self.credentials().await?;
        let address = match &self.api_address {
            Some(a) => a.clone(),
            None => {
                let port = std::fs::read(server_record_path(&self.data_dir))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<ServerRecord>(&b).ok())
                    .map_or(443, |r| r.https_port);
                format!("{}:{port}", credentials.host_name)
            }
        };
        let ca = self
            .ca
            .clone()
            .unwrap_or_else(|| crate::pki::ca_path(&self.data_dir));
        ApiClient::new(credentials, address, &ca)
    }
}
