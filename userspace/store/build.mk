LIB_SRCS += userspace/store/store.c
