//! buildah 1.43: `buildah bud --runtime <runtime> --isolation oci` of a Containerfile whose
//! RUN steps run as containers of the runtime under test. Private storage (--root/--runroot)
//! under a temp dir; the base image is the local busybox OCI archive, never a registry.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::image;
use crate::harness::util::{
    boot_ticks, kill_cmdline_matching, kill_pidfiles_under, require_root, require_tool, run_cmd,
    runtime_for, try_run_cmd, unmount_under, Output, TempDir, Timer, CMD_TIMEOUT,
};

use super::WAIT;

const BASE: &str = "hull.test/busybox:bb";

struct Buildah {
    runtime: PathBuf,
    io_dir: PathBuf,
    started_ticks: u64,
    dir: TempDir,
}

impl Buildah {
    fn new() -> Buildah {
        require_tool("buildah");
        require_root();
        let dir = TempDir::new("hull-buildah");
        Buildah {
            runtime: runtime_for(dir.path()),
            io_dir: dir.join("io"),
            started_ticks: boot_ticks().saturating_sub(100),
            dir,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("buildah");
        c.env("TMPDIR", self.dir.path())
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(["--storage-driver", "overlay"])
            .args(args);
        c
    }

    fn buildah(&self, args: &[&str]) -> Output {
        run_cmd(&mut self.cmd(args), &self.io_dir, CMD_TIMEOUT)
    }

    /// The busybox OCI archive as `hull.test/busybox:bb` in our storage.
    fn import_busybox(&self) {
        let archive = image::busybox().oci_archive.to_string_lossy().into_owned();
        let src = format!("oci-archive:{archive}:{}", image::OCI_TAG);
        let id = self.buildah(&["pull", "--quiet", &src]).ok().out();
        self.buildah(&["tag", &id, BASE]).ok();
    }

    /// `buildah bud` of `containerfile` through the runtime under test, no network, no pull;
    /// rlimits this machine's root may set (it lacks CAP_SYS_RESOURCE; buildah asks for 2^20).
    fn bud(&self, tag: &str, containerfile: &str) -> Output {
        let ctx = self.dir.join(format!("ctx-{tag}"));
        fs::create_dir_all(&ctx).unwrap();
        fs::write(ctx.join("Containerfile"), containerfile).unwrap();
        let runtime = self.runtime.to_string_lossy().into_owned();
        self.buildah(&[
            "bud",
            "--runtime",
            &runtime,
            "--isolation",
            "oci",
            "--network",
            "none",
            "--pull=never",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "-t",
            tag,
            &ctx.to_string_lossy(),
        ])
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        kill_pidfiles_under(self.dir.path(), self.started_ticks);
        let io = self.io_dir.clone();
        for args in [&["rm", "--all"][..], &["rmi", "--all", "--force"][..]] {
            let _ = try_run_cmd(&mut self.cmd(args), &io, WAIT);
        }
        kill_cmdline_matching(&self.dir.path().to_string_lossy());
        unmount_under(self.dir.path());
    }
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn buildah143_bud_run_steps_through_the_runtime() {
    let _t = Timer::new("buildah143_bud_run_steps_through_the_runtime");
    let b = Buildah::new();
    b.import_busybox();
    let o = b
        .bud(
            "hull.test/built",
            r#"FROM hull.test/busybox:bb
RUN echo built-by-run > /from-run && [ "$$" = 1 ] && echo pid-one
RUN ["sh", "-c", "test \"$(cat /from-run)\" = built-by-run && echo second-step"]
ENV FOO=bar
RUN echo "foo=$FOO uid=$(id -u)" > /env-seen
"#,
        )
        .ok();
    for want in ["pid-one", "second-step"] {
        assert!(
            o.lines().iter().any(|l| l == want),
            "missing {want:?}\n{}",
            o.describe()
        );
    }
    // What the RUN steps wrote is in the committed image.
    b.buildah(&["from", "--pull=never", "--name", "check", "hull.test/built"])
        .ok();
    let mnt = PathBuf::from(b.buildah(&["mount", "check"]).ok().out());
    let read = |f: &str| fs::read_to_string(mnt.join(f)).unwrap_or_default();
    assert_eq!(read("from-run"), "built-by-run\n");
    assert_eq!(read("env-seen"), "foo=bar uid=0\n");
    b.buildah(&["umount", "check"]).ok();

    // A failing RUN step fails the build with its exit status.
    let o = b.bud(
        "hull.test/fails",
        "FROM hull.test/busybox:bb\nRUN echo about-to-fail; exit 3\n",
    );
    assert_ne!(o.code(), 0, "{}", o.describe());
    assert!(o.stderr.contains("exit status 3"), "{}", o.describe());
}
