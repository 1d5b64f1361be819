//! A pod network for the CRI tests that need their own network namespace (containerd makes a
//! user-namespaced pod's network namespace inside its user namespace, so `hostUsers: false`
//! pods cannot use the node's network). The sid root has no CNI plugins; these two small
//! plugins (sh + iproute2, run by containerd in the sid root) touch nothing outside the pod's
//! network namespace:
//!
//! - `hull-veth` makes a veth pair whose both ends stay in the pod's namespace, names one
//!   `$CNI_IFNAME` (eth0) with 10.88.0.2/24 and reports it, as containerd requires of the
//!   default interface;
//! - `loopback` (containerd always adds the lo network) brings `lo` up.
//!
//! DEL has nothing to undo: the interfaces go with the namespace.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const CNI_VERSION: &str = "1.0.0";

/// A plugin dispatching on CNI_COMMAND; `add` is the ADD branch (shell that prints the result).
fn plugin(add: &str) -> String {
    format!(
        r#"#!/bin/sh
set -e
case "$CNI_COMMAND" in
VERSION)
    echo '{{"cniVersion":"{CNI_VERSION}","supportedVersions":["0.4.0","1.0.0","1.1.0"]}}' ;;
ADD)
{add} ;;
DEL|CHECK|STATUS|GC) ;;
*)
    echo '{{"cniVersion":"{CNI_VERSION}","code":4,"msg":"unknown CNI_COMMAND"}}'
    exit 1 ;;
esac
"#
    )
}

const VETH_ADD: &str = r#"    n() { nsenter --net="$CNI_NETNS" "$@"; }
    n ip link add "$CNI_IFNAME" type veth peer name hull-peer0
    n ip addr add 10.88.0.2/24 dev "$CNI_IFNAME"
    n ip link set hull-peer0 up
    n ip link set "$CNI_IFNAME" up
    printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.88.0.2/24","interface":0}]}\n' "$CNI_IFNAME" "$CNI_NETNS""#;

const LO_ADD: &str = r#"    nsenter --net="$CNI_NETNS" ip link set lo up
    printf '{"cniVersion":"1.0.0","interfaces":[{"name":"lo","sandbox":"%s"}],"ips":[{"address":"127.0.0.1/8","interface":0}]}\n' "$CNI_NETNS""#;

/// Writes the plugins into `<d>/cni-bin` and the network list into `<d>/cni-conf`, the dirs
/// the CRI config names.
pub fn install(d: &Path) {
    let bin = d.join("cni-bin");
    let conf = d.join("cni-conf");
    fs::create_dir_all(&bin).expect("mkdir cni-bin");
    fs::create_dir_all(&conf).expect("mkdir cni-conf");
    for (name, add) in [("hull-veth", VETH_ADD), ("loopback", LO_ADD)] {
        let p = bin.join(name);
        fs::write(&p, plugin(add)).expect("write CNI plugin");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod CNI plugin");
    }
    fs::write(
        conf.join("10-hull.conflist"),
        format!(
            r#"{{"cniVersion":"{CNI_VERSION}","name":"hull-test","plugins":[{{"type":"hull-veth"}}]}}"#
        ),
    )
    .expect("write CNI config");
}
