//! Reading resources from a YAML file or a directory of YAML files, with a content fingerprint.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::LoadError;
use crate::resources::{
    ApiKey, Kind, Provider, Resources, RoutingGroup, Secret, API_VERSION, DEFAULT_NAMESPACE, GROUP,
};

/// SHA-256 over the names and bytes of every file read, in order; equal fingerprints mean equal input.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Loads every resource from a YAML file, or from the `*.yaml`/`*.yml` files of a directory.
///
/// Directories are read non-recursively in name order; hidden entries (including the `..data`
/// links of a mounted ConfigMap or Secret) are skipped. Documents of unrelated kinds are skipped
/// with a warning; unknown kinds of this gateway's API group are an error.
pub fn load_path(path: impl AsRef<Path>) -> Result<Resources, LoadError> {
    load_path_fingerprinted(path).map(|(resources, _)| resources)
}

/// Fingerprints what [`load_path`] would read, without parsing it: cheap enough to poll.
pub fn fingerprint_path(path: impl AsRef<Path>) -> Result<Fingerprint, LoadError> {
    read_files(path.as_ref()).map(|files| fingerprint(&files))
}

/// Loads like [`load_path`] and fingerprints the very bytes that were parsed.
pub fn load_path_fingerprinted(
    path: impl AsRef<Path>,
) -> Result<(Resources, Fingerprint), LoadError> {
    let files = read_files(path.as_ref())?;
    let mut parser = Parser::default();
    for (file, bytes) in &files {
        let text = std::str::from_utf8(bytes).map_err(|e| LoadError::Io {
            path: file.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        parser.parse(file, text)?;
    }
    Ok((parser.resources, fingerprint(&files)))
}

/// Parses resources from YAML text; `label` stands in for the file name in errors.
pub fn load_str(label: impl AsRef<Path>, text: &str) -> Result<Resources, LoadError> {
    let mut parser = Parser::default();
    parser.parse(label.as_ref(), text)?;
    Ok(parser.resources)
}

fn read_files(path: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, LoadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let paths = if meta.is_dir() {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            let entry = entry.map_err(io(path))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
            if name.starts_with('.') || !yaml {
                continue;
            }
            let file = entry.path();
            // `metadata` follows symlinks, which is how ConfigMap mounts expose their files.
            if std::fs::metadata(&file).map_err(io(&file))?.is_file() {
                paths.push(file);
            }
        }
        paths.sort();
        paths
    } else {
        vec![path.to_path_buf()]
    };
    paths
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p.clone(), b)).map_err(io(&p)))
        .collect()
}

fn fingerprint(files: &[(PathBuf, Vec<u8>)]) -> Fingerprint {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        let name = path.to_string_lossy();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    Fingerprint(hasher.finalize().into())
}

#[derive(Default)]
struct Parser {
    resources: Resources,
    seen: HashMap<(Kind, String, String), String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    api_version: Option<String>,
    kind: Option<String>,
}

impl Parser {
    fn parse(&mut self, file: &Path, text: &str) -> Result<(), LoadError> {
        // First pass reads only apiVersion/kind; the second deserializes each document straight
        // from the text so errors keep their line and column.
        let mut kinds = Vec::new();
        for (document, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml::Value::deserialize(de)
                .map_err(|e| yaml_error(file, document, &e, false))?;
            if value.is_null() {
                kinds.push(None);
                continue;
            }
            let meta =
                TypeMeta::deserialize(value).map_err(|e| yaml_error(file, document, &e, false))?;
            let (Some(api_version), Some(kind)) = (meta.api_version, meta.kind) else {
                return Err(LoadError::MissingTypeMeta {
                    file: file.to_path_buf(),
                    document,
                });
            };
            kinds.push(classify(file, document, &api_version, &kind)?);
        }
        for (document, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let Some(kind) = kinds.get(document).copied().flatten() else {
                continue;
            };
            let err = |e: serde_yaml::Error| yaml_error(file, document, &e, kind == Kind::Secret);
            match kind {
                Kind::Provider => {
                    let mut obj = Provider::deserialize(de).map_err(err)?;
                    self.admit(&mut obj.metadata, kind, file, document)?;
                    self.resources.providers.push(obj);
                }
                Kind::RoutingGroup => {
                    let mut obj = RoutingGroup::deserialize(de).map_err(err)?;
                    self.admit(&mut obj.metadata, kind, file, document)?;
                    self.resources.routing_groups.push(obj);
                }
                Kind::ApiKey => {
                    let mut obj = ApiKey::deserialize(de).map_err(err)?;
                    self.admit(&mut obj.metadata, kind, file, document)?;
                    self.resources.api_keys.push(obj);
                }
                Kind::Secret => {
                    let mut obj = Secret::deserialize(de).map_err(err)?;
                    self.admit(&mut obj.metadata, kind, file, document)?;
                    self.resources.secrets.push(obj);
                }
            }
        }
        Ok(())
    }

    /// Checks the name, defaults the namespace, and refuses a second definition of one object.
    fn admit(
        &mut self,
        metadata: &mut ObjectMeta,
        kind: Kind,
        file: &Path,
        document: usize,
    ) -> Result<(), LoadError> {
        let name = match metadata.name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => {
                return Err(LoadError::MissingName {
                    file: file.to_path_buf(),
                    document,
                    kind,
                })
            }
        };
        let namespace = metadata
            .namespace
            .get_or_insert_with(|| DEFAULT_NAMESPACE.to_owned())
            .clone();
        let here = format!("{} document {document}", file.display());
        match self
            .seen
            .insert((kind, namespace.clone(), name.clone()), here)
        {
            None => Ok(()),
            Some(first) => Err(LoadError::Duplicate {
                file: file.to_path_buf(),
                document,
                kind,
                namespace,
                name,
                first,
            }),
        }
    }
}

fn classify(
    file: &Path,
    document: usize,
    api_version: &str,
    kind: &str,
) -> Result<Option<Kind>, LoadError> {
    let ours = api_version
        .split_once('/')
        .is_some_and(|(group, _)| group == GROUP);
    match (api_version, kind) {
        (API_VERSION, "Provider") => Ok(Some(Kind::Provider)),
        (API_VERSION, "RoutingGroup") => Ok(Some(Kind::RoutingGroup)),
        (API_VERSION, "ApiKey") => Ok(Some(Kind::ApiKey)),
        ("v1", "Secret") => Ok(Some(Kind::Secret)),
        _ if ours => Err(LoadError::UnknownKind {
            file: file.to_path_buf(),
            document,
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }),
        _ => {
            tracing::warn!(
                file = %file.display(),
                document,
                api_version,
                kind,
                "skipping a document of a kind the gateway does not read"
            );
            Ok(None)
        }
    }
}

/// Wraps a YAML error; for Secrets only the location is kept, since the parser's message can
/// quote the offending value.
fn yaml_error(file: &Path, document: usize, err: &serde_yaml::Error, redact: bool) -> LoadError {
    let message = if redact {
        let full = err.to_string();
        // Keep the leading field path only when it cannot be part of a quoted value.
        let path = full
            .split_once(": ")
            .map(|(p, _)| p)
            .filter(|p| !p.contains(['"', '\'', ' ']))
            .unwrap_or("");
        let at = err
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        format!("{path}: invalid Secret value{at} (details withheld: Secrets hold key material)")
    } else {
        err.to_string()
    };
    LoadError::Yaml {
        file: file.to_path_buf(),
        document,
        message,
    }
}

#[cfg(test)]
mod tests;
