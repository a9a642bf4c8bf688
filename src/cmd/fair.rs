//! `croupier fair verify BET_ID`: recomputes a provably fair bet from its revealed seed
//! and checks it against the ledger. Exit 0 when they agree, 5 when they do not, 3 when
//! the seed is not revealed yet, 2 when there is no such bet.

use std::process::ExitCode;

use anyhow::Context;
use bot_adapter::db::BotDb;
use bot_adapter::fair;
use bot_adapter::games::Terms;
use ledger::{Event, PlayerId};
use store::{codec, player, EventStore};

use store::{with_store, Database};

pub async fn verify(database: &Database, url: &str, bet: &str) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(url, 1)
        .await
        .context("cannot open the bot's tables")?;
    let Some(round) = db.round_for_audit(bet).await? else {
        eprintln!(
            "error: no provably fair round for bet '{bet}' (coinflip and dice bets have one)"
        );
        return Ok(ExitCode::from(2));
    };
    println!("bet {bet}: player {}, terms {}", round.player, round.terms);
    println!(
        "server seed hash {} (recorded before the bet), client seed {}, nonce {}",
        round.seed_hash, round.client_seed, round.nonce
    );
    let Some(seed) = round.seed else {
        println!("the server seed is not revealed yet: the player reveals it with /fair rotate");
        return Ok(ExitCode::from(3));
    };
    if fair::seed_hash(&seed) != round.seed_hash {
        println!("FAIL: the revealed seed does not hash to the recorded commitment");
        return Ok(ExitCode::from(5));
    }
    let terms = Terms::parse(&round.terms)
        .with_context(|| format!("unreadable terms '{}'", round.terms))?;
    let player = PlayerId::new(round.player).context("the round names an invalid player")?;
    let events = with_store!(database, s => s.read_stream(&player::stream_of(player), 0).await)?;
    let (mut stake, mut payout) = (None, None);
    for stored in &events {
        match codec::decode(&stored.event_type, stored.schema_version, &stored.payload)? {
            Event::BetPlaced(e) if e.bet_id.as_str() == bet => stake = Some(e.stake),
            Event::BetSettled(e) if e.bet_id.as_str() == bet => payout = Some(e.payout),
            _ => {}
        }
    }
    let roll = fair::roll(&seed, &round.client_seed, round.nonce);
    println!(
        "roll {} = HMAC-SHA256(seed, \"{}:{}\")",
        fair::show_roll(roll),
        round.client_seed,
        round.nonce
    );
    let Some(stake) = stake else {
        println!("no bet was placed with this round (refused, e.g. for funds): nothing to check");
        return Ok(ExitCode::SUCCESS);
    };
    let expected = terms.outcome(stake, roll, 0);
    match payout {
        Some(payout) if payout == expected.payout => {
            println!(
                "OK: stake {stake}, {} pays {}, and the ledger settled {payout}",
                if expected.won { "a win" } else { "a loss" },
                expected.payout
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(payout) => {
            println!(
                "FAIL: stake {stake} should have paid {}, but the ledger settled {payout}",
                expected.payout
            );
            Ok(ExitCode::from(5))
        }
        None => {
            println!(
                "the bet is not settled yet; it should pay {}",
                expected.payout
            );
            Ok(ExitCode::from(3))
        }
    }
}
