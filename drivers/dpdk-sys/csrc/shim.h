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
	uint16_t ol_flags;
	uint16_t port;
	/* sizeof(struct rte_mempool_objhdr): what a mempool keeps right
	 * before each object. */
	uint16_t objhdr_size;
};
void rvpp_dpdk_mbuf_layout(struct rvpp_dpdk_mbuf_layout *out);

/* Zero copy: a mempool whose objects are the rte_mbufs rvpp keeps right
 * before each buffer of its arena (priv area = rvpp's metadata, data room
 * = rvpp's headroom + data). The free objects are rvpp's: dequeue and
 * enqueue call back into Rust with the object pointers. Filled by Rust
 * and never freed (the pool keeps a pointer to it). */
struct rvpp_dpdk_zc {
	/* The arena's mapping: what the pool is populated with. */
	void *map_start;
	size_t map_len;
	/* Buffer 0's mbuf; buffer i's is mbuf0 + i * stride. */
	void *mbuf0;
	uint64_t stride;
	uint32_t count;
	uint16_t priv_size;
	uint16_t data_room;
	void *ctx;
	/* n objects out of rvpp's free pool, all or none: 0 or -ENOBUFS. */
	int (*get)(void *ctx, void **objs, unsigned int n);
	/* n objects back to rvpp's free pool. */
	void (*put)(void *ctx, void *const *objs, unsigned int n);
	/* Objects in rvpp's free pool. */
	unsigned int (*avail)(void *ctx);
	/* Set by the shim while it populates: the enqueue of every object
	 * that populating triggers is ignored (rvpp's free pool has them). */
	int populating;
};
/* Makes the pool (create_empty, ops "rvpp_arena", pktmbuf private area,
 * populate, mbuf headers); NULL with rte_errno set on failure. */
struct rte_mempool *rvpp_dpdk_zc_pool_create(const char *name, struct rvpp_dpdk_zc *zc, unsigned int cache,
					     int socket);
#endif
