#!/usr/bin/env python3
"""Regenerates the manual-review risk corpus (positives.txt, negatives.txt).

The output is checked in: CI and `cargo test --test risk_corpus` do not need
this script, Python or dnstwist. Re-run it only to change the corpus:

    pip install dnstwist==20250130
    python3 tests/data/risk/generate_corpus.py

Positives are dnstwist permutations of well-known brands' domains, made with
dnstwist's Fuzzer class directly: it only computes strings (no DNS, WHOIS or
HTTP; those live in dnstwist's Scanner, which is never used here). From each
brand, at most PER_FUZZER names of each fuzzer kind are kept (homoglyph
alone makes ~1,200 of paypal.com's ~1,400), chosen with a fixed seed.

Negatives are ordinary names built from word lists below (small businesses,
personal sites, Chinese pinyin names, ordinary English words that contain a
short brand inside them), also with a fixed seed.
"""

import os
import random

import dnstwist

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 7
PER_FUZZER = 8
FUZZERS = [
    "addition", "bitsquatting", "cyrillic", "homoglyph", "hyphenation",
    "insertion", "omission", "plural", "repetition", "replacement",
    "subdomain", "transposition", "vowel-swap", "various",
]

# Global and Chinese brands that phishing and CA risk control care about.
BRAND_DOMAINS = [
    "paypal.com", "google.com", "microsoft.com", "apple.com", "amazon.com",
    "facebook.com", "instagram.com", "netflix.com", "linkedin.com",
    "whatsapp.com", "coinbase.com", "binance.com", "wellsfargo.com",
    "chase.com", "fedex.com", "alipay.com", "taobao.com", "tmall.com",
    "wechat.com", "tencent.com", "baidu.com", "jd.com", "icbc.com.cn",
    "pingan.com", "huawei.com", "xiaomi.com", "12306.cn", "unionpay.com",
    "pinduoduo.com", "meituan.com", "bankofchina.com", "douyin.com",
]


def positives(rng):
    out = []
    for domain in BRAND_DOMAINS:
        fuzzer = dnstwist.Fuzzer(domain)
        fuzzer.generate(fuzzers=FUZZERS)
        by_kind = {}
        for p in fuzzer.permutations():
            if p["domain"] != domain:
                by_kind.setdefault(p["fuzzer"], []).append(p["domain"])
        for kind in sorted(by_kind):
            names = sorted(by_kind[kind])
            rng.shuffle(names)
            out.append(f"## {domain} {kind}")
            out.extend(sorted(names[:PER_FUZZER]))
    return out


ADJECTIVES = """red blue green golden silver quiet happy sunny little big old new
bright clever simple honest gentle wild urban rustic modern classic cozy fresh
crisp tiny grand humble lucky swift calm bold brave""".split()
NOUNS = """garden bakery studio kitchen harbor river mountain forest valley
meadow cottage workshop library gallery theater orchard vineyard brewery
bicycle lantern compass anchor maple willow cedar pebble canyon prairie island
harvest meadowlark sparrow falcon otter badger heron fox wolf bear owl tiger
panda lotus bamboo tea noodle dumpling""".split()
TRADES = """plumbing roofing dental law cpa yoga pilates photo design print
florist catering cleaning tutoring pets vet clinic realty travel tours
fitness barber salon tailor bikes coffee books music guitar piano dance
consulting builders electric painting movers landscaping auto""".split()
PLACES = """austin denver boston portland seattle oakland brooklyn leeds york
bristol dublin lyon porto munich oslo perth auckland toronto calgary
beijing shanghai chengdu hangzhou suzhou xiamen wuhan nanjing shenzhen
guangzhou qingdao kunming dalian xian""".split()
SURNAMES = """smith johnson garcia miller davis martin clark lewis walker hall
young king wright scott green baker adams nelson carter mitchell roberts
turner phillips campbell parker evans edwards collins stewart morris""".split()
GIVEN = """anna ben carla david emma frank grace henry iris jack kate leo mia
nora oscar paul ruth sam tom vera will zoe""".split()
PINYIN_SURNAMES = """zhang wang li liu chen yang zhao huang zhou wu xu sun ma
zhu hu guo he lin luo gao zheng liang xie song tang han feng deng cao""".split()
PINYIN_GIVEN = """san wei fang na min jing lei jun yan tao ming chao hua hong
xia ping gang qiang lan ting yu hao jie xin yi""".split()
PINYIN_THINGS = """blog studio photo design home notes lab cafe shop dev
xiaochi chaguan mianguan shuhua yinyue jiaju huayuan lvxing meishi jianzhu""".split()
TLDS = ["com", "net", "org", "io", "co", "cn", "com.cn", "co.uk", "de", "info", "me"]
CN_TLDS = ["cn", "com.cn", "com", "net", "top"]

# Ordinary words that contain a brand's letters, and ordinary words one
# letter from a brand: the false positives a naive substring or edit
# matcher makes.
TRICKY = """pineapple-farm.com grapple-gym.com purchase-orders.net seashell-crafts.com
sanfrancisco-tours.com intelligence-digest.org disco-night.club jdesign.cn
boconcept-outlet.com element-studio.io gazelle-running.com altruist-society.org
orangery-cafe.co.uk targeted-marketing.net chased-by-bears.com applied-physics.org
goggles-swim.com metalworks-shop.com amazonia-expeditions.com reapply-now.org
shelly-beach.com uberty-farm.com zoomorph-art.com slacker-radio.net appleton-library.org
snapdragon-seeds.com visage-salon.com hsu-family.net qiqi-bakery.cn ccbt-therapy.com
bocce-club.org upstairs-bar.com champagne-tasting.co.uk discovery-kids.org
payroll-experts.com bankruptcy-lawyers.com accounting-firm.net wallflower-books.com
loginov-family.ru accountable-care.org banksia-nursery.com.au taxidermy-museum.org
govinda-yoga.com officially-cute.com verifiable-news.org lottery-history.org""".split()


def negatives(rng):
    out = set()
    while len(out) < 180:
        out.add(f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}.{rng.choice(TLDS)}")
    while len(out) < 300:
        out.add(f"{rng.choice(PLACES)}-{rng.choice(TRADES)}.{rng.choice(TLDS)}")
    while len(out) < 390:
        style = rng.randrange(3)
        s, g = rng.choice(SURNAMES), rng.choice(GIVEN)
        name = [f"{g}{s}", f"{s}-{rng.choice(TRADES)}", f"{g}-{s}"][style]
        out.add(f"{name}.{rng.choice(TLDS)}")
    while len(out) < 540:
        s, g = rng.choice(PINYIN_SURNAMES), rng.choice(PINYIN_GIVEN)
        style = rng.randrange(3)
        name = [f"{s}{g}-{rng.choice(PINYIN_THINGS)}", f"{s}-{g}", f"{rng.choice(PLACES)}-{rng.choice(PINYIN_THINGS)}"][style]
        out.add(f"{name}.{rng.choice(CN_TLDS)}")
    while len(out) < 600:
        sub = rng.choice(["www", "mail", "blog", "shop", "api", "cdn", "dev", "m"])
        out.add(f"{sub}.{rng.choice(NOUNS)}{rng.choice(NOUNS)}.{rng.choice(TLDS)}")
    single = sorted(f"{w}.{rng.choice(TLDS)}" for w in sorted(set(ADJECTIVES + NOUNS + TRADES)))
    return (
        sorted(out)
        + ["## one-word names"]
        + single
        + ["## ordinary words near brands"]
        + TRICKY
    )


def write(path, header, lines):
    with open(path, "w", encoding="utf-8") as f:
        for h in header:
            f.write(f"# {h}\n")
        for line in lines:
            f.write(line + "\n")


def main():
    rng = random.Random(SEED)
    pos = positives(rng)
    write(
        os.path.join(HERE, "positives.txt"),
        [
            "Look-alike names of well-known brands: certvigil should flag them.",
            f"Generated by tests/data/risk/generate_corpus.py with dnstwist {dnstwist.__version__}",
            f"(Fuzzer class only, no network), at most {PER_FUZZER} names per fuzzer and brand, seed {SEED}.",
            "Lines starting with '## ' name the brand domain and fuzzer of the names below them.",
        ],
        pos,
    )
    neg = negatives(rng)
    write(
        os.path.join(HERE, "negatives.txt"),
        [
            "Ordinary names with no brand and no sensitive word: certvigil should not flag them.",
            "Generated by tests/data/risk/generate_corpus.py from its word lists (seed "
            f"{SEED}): multi-word names, then one-word names (every word of the lists once),",
            "then a hand-written block of ordinary words that contain or nearly spell a brand",
            "(pineapple, purchase, disco, ...).",
        ],
        neg,
    )
    print(f"{sum(1 for l in pos if not l.startswith('#'))} positives, {sum(1 for l in neg if not l.startswith('#'))} negatives")


if __name__ == "__main__":
    main()
