//! Local images of Envoy and `gauntlet-mock`, built in the Docker engine without a registry.
//!
//! Both programs need only glibc's shared libraries, so an image is the program, the
//! libraries `ldd` lists and the dynamic loader, each at its own path, in a `FROM scratch`
//! image built by the engine's classic builder (no BuildKit, no CLI). The image carries
//! [`MANAGED_LABEL`] and a fingerprint of its files in [`CONTENT_LABEL`]: asking for an image
//! whose tag already exists with the same fingerprint builds nothing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use testcontainers::bollard::query_parameters::BuildImageOptionsBuilder;
use testcontainers::bollard::Docker;

use super::install;
use crate::container::docker::{self, DockerError, CONTENT_LABEL, MANAGED_LABEL};

/// Where the program goes in the image.
pub const ENVOY_PATH: &str = "/usr/local/bin/envoy";
/// Where `gauntlet-mock` goes in the image.
pub const MOCK_PATH: &str = "/usr/local/bin/gauntlet-mock";
/// Bumped when the image layout changes, so older images are rebuilt.
const LAYOUT: &str = "scratch-v1";
/// How long a build may take (copying a ~100 MB binary into the engine).
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// What goes into one image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// `repository:tag`, e.g. `gauntlet/envoy:1.40.0`.
    pub tag: String,
    /// What the image holds, for its `org.gauntlet.kind` label: `envoy` or `mock`.
    pub kind: &'static str,
    /// The program on this machine.
    pub program: PathBuf,
    /// Where the program goes in the image (its entrypoint).
    pub program_path: &'static str,
}

/// An image that exists in the engine.
#[derive(Debug, Clone)]
pub struct Image {
    pub tag: String,
    /// The engine's image id.
    pub id: String,
    /// False when an image with the same files already existed and nothing was built.
    pub built: bool,
    /// Files in the image (program, libraries, loader).
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Time spent, including the check.
    pub took: Duration,
}

/// The tag of Gauntlet's Envoy image of `version`.
pub fn envoy_tag(version: &str) -> String {
    format!("gauntlet/envoy:{version}")
}

/// The tag of Gauntlet's mock image (one per Gauntlet version).
pub fn mock_tag() -> String {
    format!("gauntlet/mock:{}", env!("CARGO_PKG_VERSION"))
}

/// `gauntlet envoy image <version>`: builds `gauntlet/envoy:<version>` from the managed
/// install of that version (installing it if needed).
pub async fn envoy_image(version: &str) -> Result<Image, DockerError> {
    let installed = install::install(version).await?;
    ensure(&ImageSpec {
        tag: envoy_tag(version),
        kind: "envoy",
        program: installed.path,
        program_path: ENVOY_PATH,
    })
    .await
}

/// Builds `gauntlet/mock:<gauntlet version>` from `binary`, or from the `gauntlet-mock` beside
/// the running executable.
pub async fn mock_image(binary: Option<PathBuf>) -> Result<Image, DockerError> {
    let program = match binary {
        Some(b) => b,
        None => sibling_mock()?,
    };
    ensure(&ImageSpec {
        tag: mock_tag(),
        kind: "mock",
        program,
        program_path: MOCK_PATH,
    })
    .await
}

fn sibling_mock() -> Result<PathBuf, DockerError> {
    let exe = std::env::current_exe().map_err(DockerError::io("finding the running executable"))?;
    // Test binaries live one level down, in `target/<profile>/deps`.
    let dirs = exe.ancestors().skip(1).take(2);
    dirs.map(|d| d.join("gauntlet-mock"))
        .find(|p| p.is_file())
        .ok_or_else(|| DockerError::NotFound {
            what: format!("gauntlet-mock beside {}", exe.display()),
            hint: "build it (`cargo build -p gauntlet-mocks`) or pass `--binary <path>`".into(),
        })
}

/// Builds the image unless one with the same files exists under its tag.
pub async fn ensure(spec: &ImageSpec) -> Result<Image, DockerError> {
    let started = Instant::now();
    let files = image_files(spec).await?;
    let fingerprint = fingerprint(&files)?;
    let bytes = total_size(&files);
    let docker = docker::connect().await?;
    if let Some(id) = existing(&docker, &spec.tag, &fingerprint).await? {
        return Ok(Image {
            tag: spec.tag.clone(),
            id,
            built: false,
            files: files.len(),
            bytes,
            took: started.elapsed(),
        });
    }
    let context = {
        let (owned, files, fp) = (spec.clone(), files.clone(), fingerprint.clone());
        tokio::task::spawn_blocking(move || build_context(&owned, &files, &fp))
            .await
            .map_err(|e| DockerError::Build {
                tag: spec.tag.clone(),
                detail: e.to_string(),
            })??
    };
    let previous = docker
        .inspect_image(&spec.tag)
        .await
        .ok()
        .and_then(|i| i.id);
    build(&docker, &spec.tag, context).await?;
    let id = existing(&docker, &spec.tag, &fingerprint)
        .await?
        .ok_or_else(|| DockerError::Build {
            tag: spec.tag.clone(),
            detail: "the engine reported success but the image is not there".into(),
        })?;
    // The image the tag named before is now untagged: remove it rather than leave ~100 MB
    // behind per rebuild (the engine refuses while a container uses it; that is fine).
    if let Some(old) = previous.filter(|old| *old != id) {
        let none: Option<testcontainers::bollard::query_parameters::RemoveImageOptions> = None;
        let _ = docker.remove_image(&old, none, None).await;
    }
    tracing::info!(tag = %spec.tag, took = ?started.elapsed(), "built image");
    Ok(Image {
        tag: spec.tag.clone(),
        id,
        built: true,
        files: files.len(),
        bytes,
        took: started.elapsed(),
    })
}

/// One file of the image: where it is here and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ImageFile {
    host: PathBuf,
    in_image: String,
}

/// The program and every shared library it loads (at the paths the loader will look for).
async fn image_files(spec: &ImageSpec) -> Result<Vec<ImageFile>, DockerError> {
    if !spec.program.is_file() {
        return Err(DockerError::NotFound {
            what: format!("program {}", spec.program.display()),
            hint: "check the path".into(),
        });
    }
    let mut files = vec![ImageFile {
        host: spec.program.clone(),
        in_image: spec.program_path.to_string(),
    }];
    for lib in shared_libraries(&spec.program).await? {
        files.push(ImageFile {
            in_image: lib.display().to_string(),
            host: lib,
        });
    }
    Ok(files)
}

/// The absolute library paths `ldd` prints for `binary` (loader included, vDSO left out).
async fn shared_libraries(binary: &Path) -> Result<BTreeSet<PathBuf>, DockerError> {
    let ldd_error = |detail: String| DockerError::Ldd {
        binary: binary.to_path_buf(),
        detail,
    };
    let out = tokio::process::Command::new("ldd")
        .arg(binary)
        .output()
        .await
        .map_err(|e| ldd_error(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(ldd_error(format!("{}{}", text.trim(), err.trim())));
    }
    parse_ldd(&text).map_err(ldd_error)
}

/// Parses `ldd` output: `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)`,
/// `/lib64/ld-linux-x86-64.so.2 (0x…)`, and `linux-vdso.so.1 (0x…)` (no file).
fn parse_ldd(text: &str) -> Result<BTreeSet<PathBuf>, String> {
    let mut libs = BTreeSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("not found") {
            return Err(format!("a library is missing: {line}"));
        }
        if line.contains("statically linked") {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((_, target)) => target.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.insert(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// A fingerprint of the image's files and layout: their paths, sizes and modification
/// times (managed installs never change in place, so a changed binary has a new time).
fn fingerprint(files: &[ImageFile]) -> Result<String, DockerError> {
    let mut text = String::from(LAYOUT);
    for f in files {
        let meta = std::fs::metadata(&f.host)
            .map_err(DockerError::io(format!("reading {}", f.host.display())))?;
        let _ = write!(
            text,
            "\n{} {} {}.{}",
            f.in_image,
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        );
    }
    Ok(format!("{:016x}", fnv1a(text.as_bytes())))
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn total_size(files: &[ImageFile]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.host).ok())
        .map(|m| m.len())
        .sum()
}

/// The id of the image under `tag` if it carries `fingerprint`.
async fn existing(
    docker: &Docker,
    tag: &str,
    fingerprint: &str,
) -> Result<Option<String>, DockerError> {
    let inspected = docker::bounded("inspecting an image", async {
        match docker.inspect_image(tag).await {
            Ok(i) => Ok(Some(i)),
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }) => Ok(None),
            Err(e) => Err(DockerError::api(format!("inspecting image {tag}"))(e)),
        }
    })
    .await?;
    let Some(image) = inspected else {
        return Ok(None);
    };
    let labels = image.config.and_then(|c| c.labels).unwrap_or_default();
    let same = labels.get(CONTENT_LABEL).map(String::as_str) == Some(fingerprint);
    Ok(same.then(|| image.id.unwrap_or_default()))
}

/// The build context: a `FROM scratch` Dockerfile and the files under `rootfs/`.
fn build_context(
    spec: &ImageSpec,
    files: &[ImageFile],
    fingerprint: &str,
) -> Result<Vec<u8>, DockerError> {
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nLABEL {MANAGED_LABEL}=true {CONTENT_LABEL}={fingerprint} org.gauntlet.kind={}\nENTRYPOINT [\"{}\"]\n",
        spec.kind, spec.program_path
    );
    let mut tar = tar::Builder::new(Vec::new());
    // Follow symlinks: a library path is often a link to the versioned file.
    tar.follow_symlinks(true);
    // The engine's classic builder cannot read GNU sparse entries.
    tar.sparse(false);
    let io_err = |what: String| DockerError::io(what);
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .map_err(io_err("writing the build context".into()))?;
    // Envoy writes nothing outside its run directory, but programs expect a /tmp.
    let mut tmp = tar::Header::new_gnu();
    tmp.set_entry_type(tar::EntryType::Directory);
    tmp.set_mode(0o1777);
    tmp.set_size(0);
    tmp.set_cksum();
    tar.append_data(&mut tmp, "rootfs/tmp/", std::io::empty())
        .map_err(io_err("writing the build context".into()))?;
    for f in files {
        let name = format!("rootfs{}", f.in_image);
        tar.append_path_with_name(&f.host, &name)
            .map_err(io_err(format!(
                "adding {} to the build context",
                f.host.display()
            )))?;
    }
    tar.into_inner()
        .map_err(io_err("finishing the build context".into()))
}

/// Sends the context to the engine's classic builder and follows its output.
async fn build(docker: &Docker, tag: &str, context: Vec<u8>) -> Result<(), DockerError> {
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let body = testcontainers::bollard::body_full(context.into());
    let mut output = docker.build_image(options, None, Some(body));
    let mut log = String::new();
    let follow = async {
        while let Some(item) = output.next().await {
            let info = item.map_err(|e| DockerError::Build {
                tag: tag.to_string(),
                detail: e.to_string(),
            })?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Build {
                    tag: tag.to_string(),
                    detail: format!("{detail}\n{log}"),
                });
            }
            if let Some(line) = info.stream {
                log.push_str(&line);
            }
        }
        Ok(())
    };
    tokio::time::timeout(BUILD_TIMEOUT, follow)
        .await
        .map_err(|_| DockerError::Timeout {
            action: format!("building image {tag}"),
            waited: BUILD_TIMEOUT,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd1b5f3000)\n\
            \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f0c)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f0d)\n";
        let libs: Vec<String> = parse_ldd(text)
            .unwrap()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            libs,
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libm.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
        let missing = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(missing.contains("libfoo"), "{missing}");
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
    }

    #[test]
    fn fingerprints_follow_the_files() {
        let exe = std::env::current_exe().unwrap();
        let f = |in_image: &str| ImageFile {
            host: exe.clone(),
            in_image: in_image.into(),
        };
        let a = fingerprint(&[f("/a")]).unwrap();
        assert_eq!(a, fingerprint(&[f("/a")]).unwrap());
        assert_ne!(a, fingerprint(&[f("/b")]).unwrap());
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(envoy_tag("1.40.0"), "gauntlet/envoy:1.40.0");
    }

    #[tokio::test]
    async fn this_test_binary_needs_glibc_only() {
        let libs = shared_libraries(&std::env::current_exe().unwrap())
            .await
            .unwrap();
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")));
    }
}
