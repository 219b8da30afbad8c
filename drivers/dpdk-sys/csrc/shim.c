/* rvpp's C shim over DPDK's static-inline functions (see shim.h). */
#include <stddef.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "shim.h"

int rvpp_dpdk_errno(void) { return rte_errno; }

unsigned int rvpp_dpdk_lcore_id(void) { return rte_lcore_id(); }

uint16_t rvpp_dpdk_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t rvpp_dpdk_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

int rvpp_dpdk_mbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void rvpp_dpdk_mbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void rvpp_dpdk_mbuf_layout(struct rvpp_dpdk_mbuf_layout *out)
{
	out->buf_addr = offsetof(struct rte_mbuf, buf_addr);
	out->data_off = offsetof(struct rte_mbuf, data_off);
	out->nb_segs = offsetof(struct rte_mbuf, nb_segs);
	out->pkt_len = offsetof(struct rte_mbuf, pkt_len);
	out->data_len = offsetof(struct rte_mbuf, data_len);
	out->buf_len = offsetof(struct rte_mbuf, buf_len);
	out->next = offsetof(struct rte_mbuf, next);
	out->size = sizeof(struct rte_mbuf);
}
