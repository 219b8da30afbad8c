/* rvpp's C shim: DPDK's static-inline calls, made callable from Rust. */
#ifndef RVPP_DPDK_SHIM_H
#define RVPP_DPDK_SHIM_H
#include <stdint.h>
#include <rte_mbuf.h>

int rvpp_dpdk_errno(void);
unsigned int rvpp_dpdk_lcore_id(void);
uint16_t rvpp_dpdk_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t rvpp_dpdk_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
int rvpp_dpdk_mbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n);
void rvpp_dpdk_mbuf_free(struct rte_mbuf *m);

/* Where an mbuf's fields lie: Rust reads them through these offsets, so
 * the bitfields and unions of struct rte_mbuf stay on this side. */
struct rvpp_dpdk_mbuf_layout {
	uint16_t buf_addr;
	uint16_t data_off;
	uint16_t nb_segs;
	uint16_t pkt_len;
	uint16_t data_len;
	uint16_t buf_len;
	uint16_t next;
	uint16_t size;
};
void rvpp_dpdk_mbuf_layout(struct rvpp_dpdk_mbuf_layout *out);
#endif
