//! `plugboard pack`, `publish`, `verify` and `keygen`: making, signing, publishing and
//! checking packages.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use plugboard::manifest::HostConfig;
use plugboard::registry::{
    generate_keypair, pack_dir, pack_dir_as, publish_to_dir, publish_to_oci, Format, KeyRing,
    Limits, Login, Package, PublicKey, SecretKey,
};

use super::install::load_config;
use crate::{Failure, Outcome};

/// Arguments of `pack`.
#[derive(Debug, clap::Args)]
pub(crate) struct PackArgs {
    /// The plugin directory (with its plugin.yaml).
    dir: PathBuf,
    /// Where to write the package. Default: `<id>-<version>.tar.gz` (`.tar.zst` with
    /// `--zstd`) in the current directory. A name ending in `.tar.zst` makes a zstd package.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Compress with zstd (`.tar.zst`) rather than gzip: smaller, faster to unpack.
    #[arg(long)]
    zstd: bool,
}

/// Arguments of `publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct PublishArgs {
    /// A package (.tar.gz) or a plugin directory, which is packed first.
    package: PathBuf,
    /// The minisign secret key to sign with (`plugboard keygen`, `minisign -G`). An encrypted
    /// key's password is read from PLUGBOARD_KEY_PASSWORD.
    #[arg(long, value_name = "SECRET")]
    key: Option<PathBuf>,
    /// Where to publish: `oci://HOST[:PORT]/REPOSITORY[:TAG]`, a directory that gets the
    /// package, its signature and index.json, or the name of a source in config.yaml
    /// (`registry` or a name under `sources:`). Default: the config's registry.url (oci:// or
    /// file://). OCI logins come from the config's source for that registry (`auth:`), else
    /// Docker's config.json.
    #[arg(long, value_name = "DEST")]
    to: Option<String>,
    /// Publish into a registry directory as the package for one platform only, `OS-ARCH` as
    /// Rust names them (`linux-x86_64`); hosts on other platforms do not see it.
    #[arg(long, value_name = "OS-ARCH")]
    platform: Option<String>,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The package file.
    package: PathBuf,
    /// The signature. Default: the package path with `.minisig` appended.
    #[arg(long)]
    signature: Option<PathBuf>,
    /// A trusted public key file (.pub) or key text; may be repeated. Default: the config's
    /// registry.trusted_keys.
    #[arg(long = "key", value_name = "PUBLIC")]
    keys: Vec<String>,
    /// The digest the package must have (`sha256:...`).
    #[arg(long)]
    digest: Option<String>,
}

/// Arguments of `keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Writes NAME.key (secret, no password) and NAME.pub.
    name: PathBuf,
}

fn input(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Input(e.into())
}

fn packed(path: &Path) -> Result<Package, Failure> {
    if path.is_dir() {
        let (_, bytes) = pack_dir(path).map_err(input)?;
        Package::from_bytes(bytes, &path.display().to_string(), Limits::default()).map_err(input)
    } else {
        Package::read(path, Limits::default()).map_err(input)
    }
}

pub(crate) fn pack(args: PackArgs) -> Outcome {
    let named = args
        .output
        .as_ref()
        .and_then(|o| Format::from_file_name(&o.to_string_lossy()));
    let format = match (named, args.zstd) {
        (Some(Format::Gzip), true) => {
            return Err(input(anyhow!(
                "--zstd and an output named .tar.gz disagree; name it .tar.zst, or drop --zstd"
            )))
        }
        (Some(f), _) => f,
        (None, true) => Format::Zstd,
        (None, false) => Format::Gzip,
    };
    let (manifest, bytes) = pack_dir_as(&args.dir, format).map_err(input)?;
    let out = args.output.unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}.{}",
            manifest.id,
            manifest.version,
            format.extension()
        ))
    });
    std::fs::write(&out, &bytes)
        .with_context(|| format!("cannot write {}", out.display()))
        .map_err(Failure::Runtime)?;
    println!(
        "{} {}",
        out.display(),
        plugboard::registry::Digest::of(&bytes)
    );
    Ok(())
}

pub(crate) async fn publish(args: PublishArgs, global: Option<PathBuf>) -> Outcome {
    let package = packed(&args.package)?;
    let signature = match &args.key {
        Some(key) => {
            let password = std::env::var("PLUGBOARD_KEY_PASSWORD").unwrap_or_default();
            let secret = SecretKey::from_file(key, &password).map_err(input)?;
            let sig = secret
                .sign(
                    &package.bytes,
                    package.manifest.id.as_str(),
                    &package.manifest.version.to_string(),
                )
                .map_err(input)?;
            eprintln!("signed with key {}", secret.id());
            Some(sig)
        }
        None => {
            eprintln!("warning: publishing without a signature (no --key); hosts install it only with allow_unsigned: true");
            None
        }
    };
    // The configuration, when there is one: it may name the destination and log into it.
    // With --to, a missing configuration is no error: it only adds names and logins.
    let config_file = match super::config_path(None, global) {
        Ok(path) => Some(path),
        Err(_) if args.to.is_some() => None,
        Err(e) => return Err(e),
    };
    let config = config_file
        .as_ref()
        .filter(|p| p.is_file())
        .map(|p| load_config(p))
        .transpose()?;
    let sources = config
        .as_ref()
        .map(HostConfig::all_sources)
        .unwrap_or_default();
    let dest = match args.to {
        Some(d) => match sources.get(&d) {
            Some(source) => source.url.clone(),
            None => d,
        },
        None => match sources.get(plugboard::manifest::REGISTRY_SOURCE) {
            Some(source) => source.url.clone(),
            None => {
                return Err(input(anyhow!(
                    "no destination: give --to oci://HOST/REPO, --to DIR or --to SOURCE, or set \
                     registry.url in {}",
                    config_file.unwrap_or_default().display()
                )))
            }
        },
    };
    if let Some(rest) = dest.strip_prefix("oci://") {
        let host = rest.split('/').next().unwrap_or(rest);
        // The first source on that registry that says how to log in; else Docker's login.
        let configured = sources.iter().find(|(_, s)| {
            s.auth.is_some()
                && s.url
                    .strip_prefix("oci://")
                    .and_then(|r| r.split('/').next())
                    == Some(host)
        });
        let login = match configured {
            Some((name, s)) => {
                let at = if name == plugboard::manifest::REGISTRY_SOURCE {
                    "registry.auth".to_owned()
                } else {
                    format!("sources.{name}.auth")
                };
                Login::resolve(host, s.auth.as_ref(), &at)
            }
            None => Login::resolve(host, None, ""),
        }
        .map_err(input)?;
        let url = publish_to_oci(&package, signature.as_deref(), &dest, &login)
            .await
            .map_err(|e| Failure::Runtime(anyhow!(e)))?;
        println!(
            "pushed {} {} to {url}",
            package.manifest.id, package.manifest.version
        );
    } else if dest.starts_with("http://") || dest.starts_with("https://") {
        return Err(input(anyhow!(
            "{dest}: plugboard cannot upload over HTTP; publish into a directory (--to DIR), \
             then upload its files (the package, .minisig and index.json) to the server"
        )));
    } else {
        let dir = PathBuf::from(dest.strip_prefix("file://").unwrap_or(&dest));
        let dir = if dir.to_string_lossy().contains('{') {
            dir.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            dir
        };
        let path = publish_to_dir(
            &package,
            signature.as_deref(),
            &dir,
            args.platform.as_deref(),
        )
        .map_err(input)?;
        println!("published {} ({})", path.display(), package.digest);
    }
    Ok(())
}

pub(crate) fn verify(args: VerifyArgs, global: Option<PathBuf>) -> Outcome {
    let package = Package::read(&args.package, Limits::default()).map_err(input)?;
    let name = args.package.display().to_string();
    if let Some(d) = &args.digest {
        let expected: plugboard::registry::Digest = d.parse().map_err(input)?;
        if expected != package.digest {
            return Err(Failure::Runtime(anyhow!(
                "{name}: digest mismatch: expected {expected}, got {}",
                package.digest
            )));
        }
    }
    let mut keys = KeyRing::default();
    if args.keys.is_empty() {
        let path = super::config_path(None, global)?;
        let config = load_config(&path)?;
        keys = KeyRing::from_texts(&config.registry.trusted_keys).map_err(input)?;
        for source in config.sources.values() {
            keys.extend(&KeyRing::from_texts(&source.trusted_keys).map_err(input)?);
        }
    }
    for k in &args.keys {
        let text = std::fs::read_to_string(k).unwrap_or_else(|_| k.clone());
        keys.push(PublicKey::parse(&text).map_err(|e| input(anyhow!("--key {k}: {e}")))?);
    }
    let sig_path = args
        .signature
        .unwrap_or_else(|| PathBuf::from(format!("{}.minisig", args.package.display())));
    let sig = std::fs::read_to_string(&sig_path).map_err(|e| {
        Failure::Runtime(anyhow!(
            "{name}: no signature ({}: {e}); sign it with `plugboard publish --key`",
            sig_path.display()
        ))
    })?;
    let verified = package
        .verify(&sig, &keys, &name)
        .map_err(|e| Failure::Runtime(anyhow!(e)))?;
    println!(
        "{name}: {} {}, {}, signed by key {}",
        package.manifest.id, package.manifest.version, package.digest, verified.key
    );
    Ok(())
}

pub(crate) fn keygen(args: KeygenArgs) -> Outcome {
    let (secret, public) = generate_keypair().map_err(|e| Failure::Runtime(anyhow!(e)))?;
    let sk = args.name.with_extension("key");
    let pk = args.name.with_extension("pub");
    if sk.exists() {
        return Err(input(anyhow!(
            "{} exists; not overwriting a secret key",
            sk.display()
        )));
    }
    std::fs::write(&sk, secret)
        .and_then(|()| std::fs::write(&pk, &public))
        .with_context(|| format!("cannot write {}", sk.display()))
        .map_err(Failure::Runtime)?;
    let line = public.lines().nth(1).unwrap_or_default();
    println!("secret key: {} (keep it private)\npublic key: {}\nadd to config.yaml:\n  registry:\n    trusted_keys: ['{line}']", sk.display(), pk.display());
    Ok(())
}
