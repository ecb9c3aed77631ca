"""Start-up (commands synced in setup_hook, only when they changed) and a clean shutdown."""

from __future__ import annotations

import json

from tests.discord.conftest import StartBot


async def test_commands_synced_to_the_dev_guild_once(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    guild_sync = f"/applications/{fake.app_id}/guilds/{fake.guild_id}/commands"
    [put] = fake.calls("PUT", guild_sync)
    assert not fake.calls("PUT", f"/applications/{fake.app_id}/commands")  # not global
    # Synced before the gateway connection (setup_hook), not on READY.
    assert fake.requests.index(put) < len(fake.requests)
    assert fake.identified() == 1
    commands = {(c["name"], c.get("type", 1)): c for c in put.body}
    assert set(commands) == {("resume", 1), ("Résumer", 3), ("config", 1), ("roundup", 1), ("aide", 1)}
    assert commands[("resume", 1)]["description"] == "Résumer un article sous forme de débat"
    resume_options = {o["name"]: o for o in commands[("resume", 1)]["options"]}
    assert [c["value"] for c in resume_options["longueur"]["choices"]] == ["court", "standard", "long"]
    config = {o["name"]: o for o in commands[("config", 1)]["options"]}
    assert set(config) == {"voir", "definir", "salon-auto"}
    definir = {o["name"]: o for o in config["definir"]["options"]}
    assert "longueur" in [c["value"] for c in definir["réglage"]["choices"]]
    assert definir["valeur"]["autocomplete"] is True
    assert {o["name"] for o in config["salon-auto"]["options"]} == {"ajouter", "retirer"}
    assert bot.platform.client.synced is True
    state = json.loads((bot.config.data_path / "discord-commands.json").read_text(encoding="utf-8"))
    assert set(state) == {f"guild:{fake.guild_id}"}

    # A restart with the same tree does not sync again.
    await bot.stop()
    assert bot.platform.client.is_closed()
    again = await start_bot()
    assert fake.identified() == 2
    assert again.platform.client.synced is False
    assert len(fake.calls("PUT", guild_sync)) == 1

    # Without a development guild, commands go global (another target: synced once).
    await again.stop()
    await start_bot(dev_guild_id=0)
    assert len(fake.calls("PUT", f"/applications/{fake.app_id}/commands")) == 1


async def test_shutdown_closes_the_gateway_and_cancels_work(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    issued = await fake.slash(
        "resume", [{"type": 3, "name": "url", "value": bot.corpus.url("fr09-ledevoir-trottinettes")}]
    )
    await fake.wait_for(lambda: fake.for_interaction(issued), what="the deferral")
    await bot.stop()  # while the digest may still be under way
    assert bot.platform.client.is_closed()
    assert len(bot.platform.tasks) == 0
    await fake.wait_for(lambda: not fake.connected, what="the gateway to close")
