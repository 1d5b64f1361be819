//! A small CRI client (runtime.v1 over containerd's gRPC socket, from the `k8s-cri` crate)
//! driving containerd 2.1's CRI plugin, whose default runtime handler `hull` is the runc shim
//! v2 with `BinaryName` = the runtime under test and its own `Root` under the daemon's dir.
//!
//! Pods use the node's network namespace by default (pods with their own get the test network
//! of cni.rs) and a unique cgroup parent; the sandbox
//! ("pause") image is the local busybox image re-tagged with `sleep` as its command. Drop stops
//! and removes every pod, then the daemon guard tears the rest down.

use std::cell::RefCell;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::harness::containerd::{config_base, Containerd, Setup};
use crate::harness::image;
use crate::harness::util::{destroy_cgroup_tree, run_cmd, unique, wait_for};

use super::containerd2::DISABLED_PLUGINS;

/// The runtime handler name in the CRI config.
pub const HANDLER: &str = "hull";
pub const IMAGE: &str = "hull.test/busybox:bb";
pub const PAUSE_IMAGE: &str = "hull.test/busybox:pause";
const RPC_TIMEOUT: Duration = Duration::from_secs(60);

/// containerd 2's config with the CRI plugin and a runtime handler whose binary is `runtime`.
fn config_cri(d: &Path, runtime: &Path) -> String {
    super::cni::install(d);
    let base = config_base(3, d, DISABLED_PLUGINS);
    format!(
        r#"{base}
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins.'io.containerd.cri.v1.runtime']
  enable_cdi = false
  # The sandbox asks for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which this
  # machine's root lacks: clamp to containerd's own value, as the kubelet's rootless mode does.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "{HANDLER}"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{HANDLER}.options]
        BinaryName = "{runtime}"
        Root = "{d}/runtime-root"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{d}/cni-bin"]
    conf_dir = "{d}/cni-conf"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"#,
        d = d.display(),
        runtime = runtime.display(),
    )
}

/// The busybox OCI archive with a second tag, `pause`, whose command sleeps (built once).
fn pause_archive() -> &'static PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let img = image::busybox();
        let io = img.dir.join("io");
        let layout = img.dir.join("oci-pause");
        let t = Duration::from_secs(60);
        let sh = |cmd: &mut Command| {
            let o = run_cmd(cmd, &io, t);
            assert_eq!(o.code(), 0, "building the pause image\n{}", o.describe());
        };
        sh(Command::new("cp")
            .arg("-a")
            .arg(img.dir.join("oci"))
            .arg(&layout));
        let src = format!("{}:{}", layout.display(), image::OCI_TAG);
        sh(Command::new("umoci").args([
            "config",
            "--image",
            &src,
            "--tag",
            "pause",
            "--config.cmd",
            "sleep",
            "--config.cmd",
            "999999999",
        ]));
        let archive = img.dir.join("busybox-pause-oci.tar");
        sh(Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&archive)
            .arg("."));
        archive
    })
}

pub struct Cri {
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
    /// Every pod's cgroup parent (relative, no leading '/'): unique per test.
    pub cgroup_parent: String,
    pods: RefCell<Vec<String>>,
    // Dropped after Drop::drop: the daemon, then its dir.
    pub ctd: Containerd,
}

impl Cri {
    pub fn start() -> Cri {
        let ctd = Containerd::start_with(&Setup {
            config: &config_cri,
            namespace: Some("k8s.io"),
            runtime_root: Some("runtime-root"),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sock = ctd.sock.clone();
        let channel = rt
            .block_on(async move {
                Endpoint::try_from("http://[::]:50051")
                    .expect("endpoint")
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let sock = sock.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(sock).await?;
                            Ok::<_, std::io::Error>(TokioIo::new(s))
                        }
                    }))
                    .await
            })
            .unwrap_or_else(|e| panic!("connect to containerd's CRI: {e}"));
        let images = ImageServiceClient::new(channel.clone());
        let me = Cri {
            rt,
            client: RuntimeServiceClient::new(channel),
            cgroup_parent: unique("hull-cri"),
            pods: RefCell::new(vec![]),
            ctd,
        };
        // The runtime service answers once the CRI plugin is up.
        wait_for(Duration::from_secs(20), "the CRI runtime service", || {
            me.try_call(|mut c| async move { c.version(VersionRequest::default()).await })
                .ok()
        });
        // The CRI learns of an imported image from containerd's events, asynchronously: a
        // RunPodSandbox right after the import could come first, and the CRI then tried to
        // pull hull.test/busybox:pause from the network (seen in about one of four runs of
        // make test-sid). So import once the CRI is initialized (it follows the events then)
        // and wait until its image service knows the sandbox image.
        let archive = pause_archive().to_string_lossy().into_owned();
        me.ctd
            .ctr(&[
                "images",
                "import",
                "--base-name",
                "hull.test/busybox",
                &archive,
            ])
            .ok();
        wait_for(
            Duration::from_secs(20),
            "the CRI to know the sandbox image",
            || {
                let mut c = images.clone();
                let request = ImageStatusRequest {
                    image: Some(ImageSpec {
                        image: PAUSE_IMAGE.to_string(),
                        ..Default::default()
                    }),
                    verbose: false,
                };
                me.rt
                    .block_on(async move {
                        tokio::time::timeout(RPC_TIMEOUT, c.image_status(request)).await
                    })
                    .ok()?
                    .ok()?
                    .into_inner()
                    .image
            },
        );
        me
    }

    /// One RPC, bounded; Err carries the gRPC status text.
    pub fn try_call<T, F>(
        &self,
        f: impl FnOnce(RuntimeServiceClient<Channel>) -> F,
    ) -> Result<T, String>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let fut = f(self.client.clone());
        match self
            .rt
            .block_on(async { tokio::time::timeout(RPC_TIMEOUT, fut).await })
        {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
            Err(_) => Err(format!("no answer in {RPC_TIMEOUT:?}")),
        }
    }

    /// One RPC that must succeed; panics with the daemon's log otherwise.
    pub fn call<T, F>(&self, what: &str, f: impl FnOnce(RuntimeServiceClient<Channel>) -> F) -> T
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.try_call(f).unwrap_or_else(|e| {
            panic!(
                "CRI {what} failed: {e}\ncontainerd log (tail):\n{}",
                self.ctd.log_tail()
            )
        })
    }

    /// The whole containerd log (daemon and shims).
    pub fn log(&self) -> String {
        fs::read_to_string(self.ctd.dir().join("containerd.log")).unwrap_or_default()
    }

    /// A pod config: node network, the given pid mode, our cgroup parent, a log directory.
    pub fn pod_config(&self, name: &str, privileged: bool) -> PodSandboxConfig {
        let log_dir = self.ctd.dir().join("logs").join(name);
        fs::create_dir_all(&log_dir).expect("mkdir pod log dir");
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: unique("uid"),
                namespace: "hull-test".into(),
                attempt: 0,
            }),
            // No hostname: a pod in the node's network namespace has the node's UTS namespace
            // too (the kubelet sets none; runtimes refuse a hostname without a UTS namespace).
            log_directory: log_dir.to_string_lossy().into_owned(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: format!("/{}", self.cgroup_parent),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Node as i32,
                        pid: NamespaceMode::Container as i32,
                        ipc: NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    privileged,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// RunPodSandbox with the `hull` handler; the pod is stopped and removed on drop.
    pub fn run_pod(&self, config: &PodSandboxConfig) -> String {
        let req = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: HANDLER.into(),
        };
        let id = self
            .call("RunPodSandbox", |mut c| async move {
                c.run_pod_sandbox(req).await
            })
            .pod_sandbox_id;
        self.pods.borrow_mut().push(id.clone());
        id
    }

    /// A container config for the busybox image running `sh -c <script>`.
    pub fn container_config(&self, name: &str, script: &str) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: IMAGE.into(),
                ..Default::default()
            }),
            command: vec!["sh".into(), "-c".into(), script.into()],
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Node as i32,
                        pid: NamespaceMode::Container as i32,
                        ipc: NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// CreateContainer + StartContainer; returns the container id.
    pub fn create_start(
        &self,
        pod: &str,
        pod_cfg: &PodSandboxConfig,
        cfg: ContainerConfig,
    ) -> String {
        let req = CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(cfg),
            sandbox_config: Some(pod_cfg.clone()),
        };
        let id = self
            .call("CreateContainer", |mut c| async move {
                c.create_container(req).await
            })
            .container_id;
        let req = StartContainerRequest {
            container_id: id.clone(),
        };
        self.call("StartContainer", |mut c| async move {
            c.start_container(req).await
        });
        id
    }

    pub fn status(&self, id: &str) -> ContainerStatus {
        let req = ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        self.call("ContainerStatus", |mut c| async move {
            c.container_status(req).await
        })
        .status
        .expect("ContainerStatus without a status")
    }

    /// Waits until the container is in `state`.
    pub fn wait_state(
        &self,
        id: &str,
        state: ContainerState,
        timeout: Duration,
    ) -> ContainerStatus {
        wait_for(timeout, &format!("container {id} {state:?}"), || {
            let s = self.status(id);
            (s.state == state as i32).then_some(s)
        })
    }

    /// ExecSync: (exit code, stdout, stderr).
    pub fn exec_sync(&self, id: &str, cmd: &[&str]) -> (i32, String, String) {
        let req = ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 20,
        };
        let r = self.call("ExecSync", |mut c| async move { c.exec_sync(req).await });
        (
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    }

    pub fn stop_remove_container(&self, id: &str, timeout: i64) {
        let req = StopContainerRequest {
            container_id: id.into(),
            timeout,
        };
        self.call("StopContainer", |mut c| async move {
            c.stop_container(req).await
        });
        let req = RemoveContainerRequest {
            container_id: id.into(),
        };
        self.call("RemoveContainer", |mut c| async move {
            c.remove_container(req).await
        });
    }

    pub fn stop_remove_pod(&self, id: &str) -> Result<(), String> {
        let req = StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        self.try_call(|mut c| async move { c.stop_pod_sandbox(req).await })?;
        let req = RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        self.try_call(|mut c| async move { c.remove_pod_sandbox(req).await })?;
        self.pods.borrow_mut().retain(|p| p != id);
        Ok(())
    }

    /// The container's stdout/stderr as containerd logged it (CRI log format).
    pub fn container_log(&self, pod_name: &str, name: &str) -> String {
        fs::read_to_string(
            self.ctd
                .dir()
                .join("logs")
                .join(pod_name)
                .join(format!("{name}.log")),
        )
        .unwrap_or_default()
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        let pods = self.pods.borrow().clone();
        for p in pods {
            if let Err(e) = self.stop_remove_pod(&p) {
                eprintln!("warning: cleanup of pod {p}: {e}");
            }
        }
        destroy_cgroup_tree(&self.cgroup_parent);
        // self.ctd drops next: tasks, shims, mounts, the daemon and its dir.
    }
}
