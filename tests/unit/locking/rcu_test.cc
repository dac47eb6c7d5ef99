// RCU: a free waits for every read-side section that began before it, and no longer; readers
// walking a list a writer unlinks from and frees never touch freed memory (ASan and TSan
// builds run this too).
#include "locking/rcu.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace lockfs::locking {
namespace {

std::atomic<int> g_freed{0};
void count_free(void*) { g_freed++; }
RcuHead heads[16];  // one per call_rcu below

class RcuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rcu_barrier();
    g_freed = 0;
  }
};

TEST_F(RcuTest, FreeRunsAtOnceWithNoReader) {
  call_rcu(&heads[0], nullptr, count_free);
  EXPECT_EQ(g_freed.load(), 1);
  EXPECT_EQ(rcu_pending(), 0u);
}

TEST_F(RcuTest, FreeWaitsForAnEarlierReaderOnly) {
  std::atomic<int> stage{0};
  std::thread reader([&] {
    rcu_read_lock();
    rcu_read_lock();  // nested: the section ends with the outer unlock
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
    rcu_read_unlock();
    stage = 3;
    while (stage.load() != 4) std::this_thread::yield();
    rcu_read_unlock();
  });
  while (stage.load() != 1) std::this_thread::yield();
  call_rcu(&heads[1], nullptr, count_free);
  EXPECT_EQ(g_freed.load(), 0);  // the reader may still see it
  EXPECT_EQ(rcu_pending(), 1u);
  stage = 2;
  while (stage.load() != 3) std::this_thread::yield();
  call_rcu(&heads[2], nullptr, count_free);
  EXPECT_EQ(g_freed.load(), 0);  // still inside the outer section
  stage = 4;
  reader.join();
  // A section that begins after call_rcu does not hold the free back.
  rcu_read_lock();
  std::thread([] { rcu_barrier(); }).join();
  rcu_read_unlock();
  EXPECT_EQ(g_freed.load(), 2);
  EXPECT_EQ(rcu_pending(), 0u);
}

// A singly linked list read under RCU while a writer unlinks nodes and frees them with
// call_rcu, then links new ones. The "free" marks the node dead and keeps its memory until
// the end (so nothing reuses it): a reader that reaches a node after its free sees it dead.
struct Node {
  RcuHead rcu;
  std::atomic<Node*> next{nullptr};
  std::atomic<bool> alive{true};
  int value = 0;
};

std::mutex g_graveyard_mu;
std::vector<Node*> g_graveyard;

void free_node(void* p) {
  auto* n = static_cast<Node*>(p);
  n->alive.store(false, std::memory_order_relaxed);
  std::lock_guard lk(g_graveyard_mu);
  g_graveyard.push_back(n);
}

TEST_F(RcuTest, ReadersNeverReachFreedNodes) {
  std::atomic<Node*> head{nullptr};
  for (int i = 0; i < 16; ++i) {
    auto* n = new Node;
    n->value = i;
    n->next.store(head.load(), std::memory_order_relaxed);
    head.store(n, std::memory_order_release);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> dead_seen{0}, walks{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        RcuReadGuard g;
        for (Node* n = head.load(std::memory_order_acquire); n != nullptr;
             n = n->next.load(std::memory_order_acquire)) {
          if (!n->alive.load(std::memory_order_relaxed)) dead_seen++;
        }
        walks++;
      }
    });
  }
  int made = 16;
  for (int round = 0; round < 20000 || (walks.load() < 1000 && round < 5'000'000); ++round) {
    // Unlink the second node (the head stays), free it by RCU, push a new head.
    Node* first = head.load(std::memory_order_relaxed);
    Node* victim = first->next.load(std::memory_order_relaxed);
    first->next.store(victim->next.load(std::memory_order_relaxed), std::memory_order_release);
    call_rcu(&victim->rcu, victim, free_node);
    auto* n = new Node;
    n->value = made++;
    n->next.store(first, std::memory_order_relaxed);
    head.store(n, std::memory_order_release);
  }
  stop = true;
  for (auto& t : readers) t.join();
  rcu_barrier();
  EXPECT_EQ(dead_seen.load(), 0u);
  EXPECT_GT(walks.load(), 0u);
  EXPECT_EQ(rcu_pending(), 0u);
  for (Node* n = head.load(); n != nullptr;) {
    Node* next = n->next.load();
    delete n;
    n = next;
  }
  for (Node* n : g_graveyard) delete n;
  g_graveyard.clear();
}

// A thread's slot goes back when it exits and the next thread reuses it: many short-lived
// readers, one after another, leave the slots as they were.
TEST_F(RcuTest, ExitedReadersGiveTheirSlotBack) {
  { RcuReadGuard g; }  // this thread has its slot
  const size_t before = rcu_reader_slots();
  for (int i = 0; i < 50; ++i) {
    std::thread([] { RcuReadGuard g; }).join();
  }
  EXPECT_LE(rcu_reader_slots(), before + 1);
  call_rcu(&heads[3], nullptr, count_free);
  EXPECT_EQ(g_freed.load(), 1);
}

// A barrier waits for the frees queued before it, here one a reader holds back.
TEST_F(RcuTest, BarrierWaitsForAnEarlierReadersFree) {
  call_rcu(&heads[4], nullptr, count_free);  // no reader: run at once
  std::atomic<int> stage{0};
  std::thread reader([&] {
    RcuReadGuard g;
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
  });
  while (stage.load() != 1) std::this_thread::yield();
  call_rcu(&heads[5], nullptr, count_free);  // held back by the reader
  EXPECT_EQ(rcu_pending(), 1u);
  std::thread barrier([] { rcu_barrier(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(g_freed.load(), 1);  // the barrier is still waiting for the reader
  stage = 2;
  reader.join();
  barrier.join();
  EXPECT_EQ(g_freed.load(), 2);
  EXPECT_EQ(rcu_pending(), 0u);
}

}  // namespace
}  // namespace lockfs::locking
