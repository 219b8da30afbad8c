//! Builds the bindings against the system DPDK found by pkg-config
//! (`libdpdk`, Debian's dpdk-dev): bindgen over csrc/wrapper.h with the
//! raw `--cflags` output (it carries `-include rte_config.h` and
//! `-march=...`), the C shim compiled with the same flags, and the
//! libraries of `--libs`. PMDs are not linked: the EAL loads them from its
//! plugin directory.

use std::path::PathBuf;
use std::process::Command;

fn pkg_config(arg: &str) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args([arg, "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("rvpp-dpdk-sys needs pkg-config and DPDK (apt-get install dpdk-dev): {e}"));
    if !out.status.success() {
        panic!(
            "rvpp-dpdk-sys: `pkg-config {arg} libdpdk` failed ({}); install dpdk-dev, or build without the dpdk feature",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    let cflags = pkg_config("--cflags");
    let libs = pkg_config("--libs");

    let mut cc = cc::Build::new();
    cc.file("csrc/shim.c").include("csrc").warnings(true).opt_level(2);
    // `-include rte_config.h` is two words: keep them together, in order.
    for f in &cflags {
        cc.flag(f);
    }
    cc.compile("rvpp_dpdk_shim");

    for l in &libs {
        if let Some(dir) = l.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = l.strip_prefix("-l") {
            // Only what the driver calls is needed; --as-needed drops the rest.
            if lib.starts_with("rte_") || lib == "numa" || lib == "bsd" {
                println!("cargo:rustc-link-lib=dylib={lib}");
            }
        }
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bindings = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(cflags.iter().map(String::as_str))
        .clang_arg("-Icsrc")
        .allowlist_function("rte_eal_init")
        .allowlist_function("rte_eal_cleanup")
        .allowlist_function("rte_eal_get_runtime_dir")
        .allowlist_function("rte_thread_register")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_eth_dev_count_avail")
        .allowlist_function("rte_eth_find_next_owned_by")
        .allowlist_function("rte_eth_dev_info_get")
        .allowlist_function("rte_eth_dev_get_name_by_port")
        .allowlist_function("rte_eth_dev_get_port_by_name")
        .allowlist_function("rte_eth_dev_configure")
        .allowlist_function("rte_eth_rx_queue_setup")
        .allowlist_function("rte_eth_tx_queue_setup")
        .allowlist_function("rte_eth_dev_start")
        .allowlist_function("rte_eth_dev_stop")
        .allowlist_function("rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_socket_id")
        .allowlist_function("rte_eth_macaddr_get")
        .allowlist_function("rte_eth_dev_get_mtu")
        .allowlist_function("rte_eth_dev_set_mtu")
        .allowlist_function("rte_eth_link_get_nowait")
        .allowlist_function("rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_stats_get")
        .allowlist_function("rte_eth_dev_set_link_up")
        .allowlist_function("rte_eth_dev_set_link_down")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_mempool_avail_count")
        .allowlist_function("rte_mempool_in_use_count")
        .allowlist_function("rte_pktmbuf_free_bulk")
        .allowlist_function("rvpp_dpdk_.*")
        .allowlist_type("rvpp_dpdk_mbuf_layout")
        .allowlist_type("rvpp_dpdk_zc")
        .allowlist_var("RTE_MAX_ETHPORTS")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_ETH_LINK_UP")
        .allowlist_var("SOCKET_ID_ANY")
        .opaque_type("rte_mbuf")
        .opaque_type("rte_mempool")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen over DPDK's headers (needs libclang-dev)");
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings");
}
