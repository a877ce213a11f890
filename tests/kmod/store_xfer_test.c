// SPDX-License-Identifier: MIT
/*
 * The store on top of /dev/pith_xfer: buffers come from the module when it
 * is loaded, behave like memfd buffers for their users, and sealing revokes
 * a producer that still maps its output. Runs in the VM rig.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "harness/harness.h"
#include "store/store.h"
#include "store/xfer.h"
#include "uapi/pith_xfer.h"

#define REQUIRE_MODULE()                                              \
	do {                                                          \
		if (access(PITH_XFER_DEVICE, F_OK) != 0)              \
			SKIP(return, "pith_xfer module not loaded (no %s)", \
			     PITH_XFER_DEVICE);                       \
	} while (0)

TEST(backend_is_the_module_when_loaded)
{
	REQUIRE_MODULE();
	EXPECT_STREQ("pith_xfer", store_backend());
	EXPECT_EQ(0, strncmp(store_backend_status(), "pith_xfer (API 1,", 17))
		TH_LOG("status: %s", store_backend_status());
}

TEST(backend_memfd_can_be_forced_and_says_why)
{
	struct buffer *b;

	setenv("PITH_STORE_BACKEND", "memfd", 1);
	EXPECT_STREQ("memfd", store_backend());
	EXPECT_STREQ("memfd (PITH_STORE_BACKEND=memfd)",
		     store_backend_status());
	ASSERT_EQ(0, buffer_new("forced", 4096, &b));
	EXPECT_FALSE(b->xfer);
	/* A memfd refuses sealing while a writable mapping exists. */
	void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd,
		       0);
	ASSERT_NE(MAP_FAILED, w);
	EXPECT_EQ(-EBUSY, buffer_seal(b));
	munmap(w, 4096);
	EXPECT_EQ(0, buffer_seal(b));
	buffer_unref(b);
}

TEST(buffer_round_trip_through_the_module)
{
	static const char msg[] = "the quick brown fox";
	struct buffer *b;
	const void *data;

	REQUIRE_MODULE();
	ASSERT_EQ(0, buffer_new("roundtrip", 3 * 4096 + 7, &b));
	EXPECT_TRUE(b->xfer);
	ASSERT_EQ(0, buffer_write(b, 4090, msg, sizeof(msg)));
	EXPECT_EQ(-EPERM, buffer_data(b, &data));
	ASSERT_EQ(0, buffer_seal(b));
	EXPECT_EQ(-EPERM, buffer_write(b, 0, msg, 1));
	ASSERT_EQ(0, buffer_data(b, &data));
	EXPECT_EQ(0, memcmp((const char *)data + 4090, msg, sizeof(msg)));
	EXPECT_EQ(0, ((const char *)data)[0]);
	buffer_unref(b);
}

TEST(producer_mapping_can_be_populated_up_front)
{
	struct rusage ru0, ru1;
	struct buffer *b;
	size_t size = 128 * 4096;
	char *w;

	REQUIRE_MODULE();
	ASSERT_EQ(0, buffer_new("populate", size, &b));
	w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	ASSERT_NE(MAP_FAILED, w);
	ASSERT_EQ(0, xfer_buffer_populate(b->fd, w, size));
	getrusage(RUSAGE_SELF, &ru0);
	memset(w, 'f', size);
	getrusage(RUSAGE_SELF, &ru1);
	EXPECT_GT(4, ru1.ru_minflt - ru0.ru_minflt);
	munmap(w, size);
	ASSERT_EQ(0, buffer_seal(b));
	buffer_unref(b);
}

/* What makes the module worth loading: the stage's output is sealed while
 * its producer is alive and mapped, and the producer cannot touch it. */
TEST(seal_revokes_a_live_producer_instead_of_failing)
{
	int ready[2], go[2];
	struct buffer *b;
	const char *data;
	pid_t pid;
	int status;
	char c;

	REQUIRE_MODULE();
	ASSERT_EQ(0, buffer_new("output", 8 * 4096, &b));
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *w = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE,
			       MAP_SHARED, b->fd, 0);

		if (w == MAP_FAILED)
			_exit(2);
		memset(w, 'o', 8 * 4096);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(3);
		w[100] = 'X';
		_exit(4);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("producer status %#x", status);
	ASSERT_EQ(0, buffer_data(b, (const void **)&data));
	for (int i = 0; i < 8 * 4096; i++)
		ASSERT_EQ('o', data[i]) TH_LOG("byte %d", i);
	buffer_unref(b);
}

TEST(buffer_above_module_limit_falls_back_to_memfd)
{
	struct pith_xfer_version v;
	struct buffer *b;
	int dev;

	REQUIRE_MODULE();
	dev = open(PITH_XFER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, ioctl(dev, PITH_XFER_IOC_VERSION, &v));
	close(dev);
	/* A memfd of that size is sparse: nothing is allocated. */
	ASSERT_EQ(0, buffer_new("huge", v.max_bytes + 4096, &b));
	EXPECT_FALSE(b->xfer);
	EXPECT_EQ(0, buffer_seal(b));
	buffer_unref(b);
}

TEST_HARNESS_MAIN
