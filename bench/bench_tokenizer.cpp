// fthost-bench-tokenizer: encoding throughput (MB/s of UTF-8 text) of one tokenizer fixture on a
// few MB of generated multilingual text, then the same for Hugging Face `tokenizers` through
// tools/bench_tokenizers.py when it is importable. Both print a checksum of every id: equal
// checksums mean identical ids over the whole text. Not a test: nothing here asserts a speed.
//
// usage: fthost-bench-tokenizer [--fixture llama3] [--megabytes 4] [--python PATH]
//   --fixture: a folder of tests/fixtures/tokenizer/ (gpt2, llama3, qwen2, llama2, mistral, ...)

#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "data/tokenizer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr char document_separator = '\x1e';  // between documents in the text file for the script

// Words the generator draws from, most common first (drawn with a Zipf-like skew): English, code,
// accented words, Chinese, emoji, so every branch of the byte-level pre-tokenizer is exercised.
const std::vector<std::string> common_words = {
    "the", "of", "and", "to", "a", "in", "is", "it", "that", "for", "was", "on", "are", "with", "as", "I",
    "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "word", "but", "what",
    "some", "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how",
    "said", "an", "each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many",
    "then", "them", "write", "would", "like", "so", "these", "her", "long", "make", "thing", "see",
    "him", "two", "has", "look", "more", "day", "could", "go", "come", "did", "number", "sound", "no",
    "most", "people", "my", "over", "know", "water", "than", "call", "first", "who", "may", "down",
    "side", "been", "now", "find", "tokenizer", "training", "gradient", "model", "learning", "rate",
    "it's", "don't", "we'll", "they've", "I'm", "isn't", "return", "self", "def", "import", "class",
    "café", "naïve", "résumé", "Zürich", "Grüße", "façade", "机器学习", "语言模型", "你好", "世界",
    "数据", "训练", "東京", "Москва", "привет", "😀", "👍🏽", "🚀", "👨‍👩‍👧", "🇫🇷"};

struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  }
  double uniform() { return static_cast<double>(next()) / static_cast<double>(1ULL << 31); }
};

// A made-up word, so the text is not only the cached common words (about 1 word in 6).
std::string rare_word(Random& random) {
  static const char* syllables[] = {"ka", "tor", "mi", "zen", "lu", "vra", "sk", "ei", "on", "pha", "qu", "ix"};
  std::string word;
  std::uint64_t count = 2 + random.next() % 4;
  for (std::uint64_t index = 0; index < count; ++index) word += syllables[random.next() % 12];
  if (random.next() % 4 == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
  return word;
}

// An index in [0, size), small ones far more often (cubing a uniform draw), as word frequencies go.
std::size_t zipf_index(Random& random, std::size_t size) {
  return static_cast<std::size_t>(std::pow(random.uniform(), 3.0) * static_cast<double>(size));
}

std::vector<std::string> generate_documents(std::size_t total_bytes) {
  Random random{20240607};
  std::vector<std::string> documents;
  std::size_t bytes = 0;
  while (bytes < total_bytes) {
    std::string document;
    std::size_t target = 1000 + random.next() % 7000;
    while (document.size() < target) {
      double draw = random.uniform();
      if (draw < 0.16) document += rare_word(random);
      else if (draw < 0.22) document += std::to_string(random.next() % (random.next() % 2 ? 100 : 1000000));
      else document += common_words[zipf_index(random, common_words.size())];
      std::uint64_t after = random.next() % 40;
      static const char* separators[] = {", ", ", ", ", ", ". ", ".\n", "\n\t", "  "};
      document += after < 7 ? separators[after] : " ";
    }
    bytes += document.size();
    documents.push_back(std::move(document));
  }
  return documents;
}

// The checksum tools/bench_tokenizers.py prints: over every id of every document, in order, mod 2^64.
std::uint64_t checksum(const std::vector<std::vector<std::int32_t>>& all_ids) {
  std::uint64_t value = 0;
  for (const auto& ids : all_ids) {
    for (std::int32_t id : ids) value = value * 1000003u + static_cast<std::uint64_t>(id) + 1u;
  }
  return value;
}

double megabytes_of(const std::vector<std::string>& documents) {
  std::size_t bytes = 0;
  for (const auto& document : documents) bytes += document.size();
  return static_cast<double>(bytes) / 1e6;
}

// Seconds to encode every document with `threads` threads (documents dealt round-robin), best of
// `repeats` rounds. The threads live through all rounds, so their word caches warm up as a
// long-running data loader's would.
double best_seconds(const fthost::data::Tokenizer& tokenizer, const std::vector<std::string>& documents,
                    unsigned threads, int repeats, std::vector<std::vector<std::int32_t>>& all_ids) {
  all_ids.assign(documents.size(), {});
  std::barrier round_edge(static_cast<std::ptrdiff_t>(threads) + 1);
  std::vector<std::thread> workers;
  for (unsigned worker = 0; worker < threads; ++worker) {
    workers.emplace_back([&, worker] {
      for (int round = 0; round < repeats; ++round) {
        round_edge.arrive_and_wait();  // start together
        for (std::size_t index = worker; index < documents.size(); index += threads) {
          all_ids[index] = tokenizer.encode(documents[index], false);
        }
        round_edge.arrive_and_wait();  // all done
      }
    });
  }
  double best = 1e30;
  for (int round = 0; round < repeats; ++round) {
    round_edge.arrive_and_wait();
    auto start = Clock::now();
    round_edge.arrive_and_wait();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  for (auto& thread : workers) thread.join();
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string fixture = "llama3";
  double megabytes = 4.0;
  std::string python = std::getenv("FTHOST_BENCH_PYTHON") != nullptr ? std::getenv("FTHOST_BENCH_PYTHON") : "python3";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--fixture") fixture = argv[i + 1];
    else if (flag == "--megabytes") megabytes = std::atof(argv[i + 1]);
    else if (flag == "--python") python = argv[i + 1];
  }
  const std::filesystem::path tokenizer_file =
      std::filesystem::path(FTHOST_SOURCE_DIR) / "tests/fixtures/tokenizer" / fixture / "tokenizer.json";

  auto documents = generate_documents(static_cast<std::size_t>(megabytes * 1e6));
  const double text_megabytes = megabytes_of(documents);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::printf("fthost-bench-tokenizer: %s, %.1f MB in %zu documents, encode without special tokens\n", fixture.c_str(),
              text_megabytes, documents.size());

  // A cold cache (first pass of a freshly loaded tokenizer), then warm passes.
  std::vector<std::vector<std::int32_t>> all_ids;
  {
    auto cold = fthost::data::Tokenizer::load(tokenizer_file);
    if (!cold) {
      std::fprintf(stderr, "%s\n", cold.error().message.c_str());
      return 1;
    }
    double seconds = best_seconds(*cold, documents, 1, 1, all_ids);
    std::printf("  fthost  %8.1f MB/s encode (1 thread, cold word cache)\n", text_megabytes / seconds);
  }
  auto tokenizer = fthost::data::Tokenizer::load(tokenizer_file);
  if (!tokenizer) return 1;
  double single = best_seconds(*tokenizer, documents, 1, 3, all_ids);
  double parallel = best_seconds(*tokenizer, documents, threads, 3, all_ids);
  std::size_t tokens = 0;
  for (const auto& ids : all_ids) tokens += ids.size();
  std::printf("  fthost  %8.1f MB/s encode (1 thread)  %8.1f MB/s encode (%u threads)  %zu tokens  checksum %016llx\n",
              text_megabytes / single, text_megabytes / parallel, threads, tokens,
              static_cast<unsigned long long>(checksum(all_ids)));
  std::fflush(stdout);

  // The same documents for `tokenizers`, through a temporary file.
  auto text_file =
      std::filesystem::temp_directory_path() / ("fthost-bench-tokenizer-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream stream(text_file, std::ios::binary);
    for (std::size_t index = 0; index < documents.size(); ++index) {
      if (index > 0) stream << document_separator;
      stream << documents[index];
    }
  }
  std::string script = std::string(FTHOST_SOURCE_DIR) + "/tools/bench_tokenizers.py";
  std::string command = python + " " + script + " --tokenizer " + tokenizer_file.string() + " --text " +
                        text_file.string() + " 2>&1";
  std::printf("  hf      ");
  std::fflush(stdout);
  int status = std::system(command.c_str());
  std::filesystem::remove(text_file);
  if (status != 0) {
    std::printf("  (tokenizers run unavailable: set FTHOST_BENCH_PYTHON to a python with `tokenizers`)\n");
  }
  return 0;
}
