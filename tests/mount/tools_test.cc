// Real tools on a lockfs mount: cp -a, tar, git, rsync, make, find, chmod/chown/touch, ln -s,
// mv across directories, setfattr/getfattr, chattr/lsattr, flock(1).
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

using Tools = MountTest;

#define EXPECT_SH_OK(cmd)              \
  do {                                 \
    Cmd _c = in_mnt(cmd);              \
    EXPECT_EQ(_c.status, 0) << (cmd) << "\n" << _c.out; \
  } while (0)

TEST_F(Tools, CpTarRsyncKeepTreesIdentical) {
  std::string src = quote(kSrc + "/locking");
  EXPECT_SH_OK("cp -a " + src + " tree && diff -r " + src + " tree");
  EXPECT_SH_OK("tar cf t.tar tree && mkdir x && tar xf t.tar -C x && diff -r tree x/tree");
  EXPECT_SH_OK("rsync -a " + src + "/ r/ && diff -r " + src + " r");
  EXPECT_SH_OK("rsync -a --delete tree/ r/ && diff -r tree r");
  EXPECT_SH_OK("cmp tree/tracer.h " + quote(kSrc + "/locking/tracer.h"));
  Cmd n = in_mnt("find tree -type f | wc -l");
  Cmd m = sh("find " + src + " -type f | wc -l");
  EXPECT_EQ(n.out, m.out);
}

TEST_F(Tools, GitInitAddCommit) {
  EXPECT_SH_OK("mkdir repo && cd repo && git init -q && cp -a " + quote(kSrc + "/fs") +
               " . && git add -A && git -c user.name=t -c user.email=t@e commit -qm init && "
               "git status --porcelain | wc -l | grep -qx 0 && git fsck --no-progress && "
               "git log --oneline | grep -q init");
  EXPECT_SH_OK("cd repo && echo change >> fs/main.cc && git -c user.name=t -c user.email=t@e "
               "commit -qam two && git log --oneline | wc -l | grep -qx 2 && "
               "git checkout -q HEAD~1 && ! grep -q change fs/main.cc");
}

TEST_F(Tools, MakeBuildsASmallProject) {
  ASSERT_EQ(mkdir(path("proj").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(path("proj/Makefile"),
                         "hello: main.o greet.o\n\tcc -o $@ $^\n%.o: %.c\n\tcc -c -o $@ $<\n"
                         "clean:\n\trm -f hello *.o\n"));
  ASSERT_TRUE(write_file(path("proj/main.c"),
                         "void greet(void);\nint main(void) { greet(); return 0; }\n"));
  ASSERT_TRUE(write_file(path("proj/greet.c"),
                         "#include <stdio.h>\nvoid greet(void) { puts(\"hello lockfs\"); }\n"));
  Cmd b = in_mnt("cd proj && make -s && ./hello");
  EXPECT_EQ(b.status, 0) << b.out;
  EXPECT_EQ(b.out, "hello lockfs\n");
  Cmd again = in_mnt("cd proj && make");
  EXPECT_NE(again.out.find("up to date"), std::string::npos) << again.out;
  EXPECT_SH_OK("cd proj && make -s clean && test ! -e hello");
}

TEST_F(Tools, CoreutilsOnTheMount) {
  EXPECT_SH_OK("mkdir -p a/b/c && touch a/b/c/f && find . -name f | grep -qx ./a/b/c/f");
  EXPECT_SH_OK("chmod -R 700 a && stat -c %a a/b | grep -qx 700");
  EXPECT_SH_OK("chown -R 1000:1000 a && stat -c %u:%g a/b/c/f | grep -qx 1000:1000");
  EXPECT_SH_OK("touch -d '2001-02-03 04:05:06' a/b/c/f && stat -c %Y a/b/c/f | "
               "grep -qx $(date -d '2001-02-03 04:05:06' +%s)");
  EXPECT_SH_OK("ln -s a/b/c/f sym && test -L sym && readlink sym | grep -qx a/b/c/f");
  EXPECT_SH_OK("mkdir d2 && mv a/b d2/ && test -e d2/b/c/f && test ! -e a/b");
  EXPECT_SH_OK("echo data > x && setfattr -n user.k -v val x && "
               "getfattr --only-values -n user.k x | grep -qx val");
  EXPECT_SH_OK("chattr +a x && lsattr x | cut -c1-22 | grep -q a && ! (echo y > x) && "
               "echo z >> x && chattr -a x && echo w > x");
  // While one flock(1) holds the lock, a second non-blocking one on a new open file fails.
  EXPECT_SH_OK("flock -n x true && flock x sh -c '! flock -n x true'");
  EXPECT_SH_OK("dd if=/dev/zero of=z bs=64k count=16 status=none && stat -c %s z | grep -qx 1048576");
  EXPECT_SH_OK("rm -rf a d2 x z sym && test -z \"$(ls -A)\"");
}

}  // namespace
}  // namespace lockfs::mount_test
