#!/usr/bin/env python3
"""Recompute every revealed provably fair bet of `croupier audit export --format jsonl`.
Usage: croupier audit export --format jsonl | python3 docs/fair-verify.py  (or FILE)."""
import fileinput, hashlib, hmac, json, sys
from decimal import Decimal, ROUND_DOWN
commits, seeds, bets, bad = {}, {}, {}, 0
for e in map(json.loads, filter(str.strip, fileinput.input())):
    p, at = e["payload"], (e["stream"], e["payload"].get("seed_hash"))
    if e["type"] == "fair_seed_committed": commits.setdefault(at, e["position"])
    if e["type"] == "fair_seed_revealed": seeds[at] = bytes.fromhex(p["seed"])
    if e["type"] == "bet_placed" and p.get("fair"): bets[e["stream"], p["bet_id"]] = [e["position"], p, None]
    if e["type"] == "bet_settled" and (e["stream"], p["bet_id"]) in bets: bets[e["stream"], p["bet_id"]][2] = p
for (stream, bet), (pos, placed, settled) in bets.items():
    f = placed["fair"]; seed = seeds.get((stream, f["seed_hash"]))
    if seed is None or settled is None: print(f"{bet}: pending (seed not revealed or bet open)"); continue
    roll = int.from_bytes(hmac.new(seed, f"{f['client_seed']}:{f['nonce']}".encode(), hashlib.sha256).digest()[:8], "big") % 10000
    game, choice, edge = f["terms"].split(":"); keep = 10000 - Decimal(edge)
    won = (roll < 5000) == (choice == "heads") if game == "coinflip" else roll < int(choice) * 100
    num, den = (2 * keep, 10000) if game == "coinflip" else (100 * keep, int(choice) * 10000)
    pays = (Decimal(placed["stake"]) * num / den).quantize(Decimal(1) if placed["currency"] == "XTR" else Decimal("0.01"), ROUND_DOWN) if won else Decimal(0)
    ok = commits.get((stream, f["seed_hash"]), pos) < pos and hashlib.sha256(seed).hexdigest() == f["seed_hash"] and settled.get("roll") == roll and Decimal(settled["payout"]) == pays
    bad += not ok
    print(f"{bet}: {'OK' if ok else 'MISMATCH'} roll {roll / 100:.2f} {'won' if won else 'lost'}, pays {pays}, settled {settled['payout']} (roll {settled.get('roll')})")
sys.exit(1 if bad else 0)
