"""Every sentence a chat user reads that is not part of a digest or an error (those live in
`prompts/fr` and `bot.errors`)."""

from __future__ import annotations

WORKING = "⏳ Je lis l'article et je prépare le résumé…"
QUEUED = "⏳ Demande reçue : {position} résumé(s) avant le vôtre."
FAILED = "⚠️ Résumé impossible pour {url} : {reason}"
CONFIG_CHANGED = "✅ Réglage « {key} » : {value}."
CONFIG_RESET = "✅ Réglage « {key} » remis à sa valeur par défaut."
CONFIG_HEADER = "Réglages de ce salon (modifiables par les modérateurs) :"
NO_LINK = "Aucun lien http(s) trouvé dans ce message."
UNDECRYPTABLE = (
    "🔒 Je n'ai pas pu déchiffrer ce message (clés de chiffrement non partagées avec moi). "
    "Renvoyez-le après m'avoir vérifié, ou utilisez un salon non chiffré."
)
AUTO_ON = "✅ Résumés automatiques activés dans ce salon."
AUTO_OFF = "✅ Résumés automatiques désactivés dans ce salon."

ROUNDUP_TITLE = "📚 Récapitulatif des liens partagés — {period}"
ROUNDUP_EMPTY = "Aucun lien n'a été partagé ici {period}."
ROUNDUP_DEBATES = "Les débats de la période"
ROUNDUP_FAILED_ENTRY = "⚠️ {url} — non résumé : {reason}"


def usage(prefix: str) -> str:
    """Short usage, shown after a bad command."""
    return (
        f"Utilisation : {prefix}resume <lien> [court|standard|long] · {prefix}config · "
        f"{prefix}config <réglage> <valeur> · {prefix}roundup · {prefix}aide"
    )


def help_text(prefix: str, *, slash: bool = False) -> str:
    """The `aide` command's answer; `slash` for Discord's /commands."""
    p = "/" if slash else prefix
    config_set = f"{p}config definir <réglage> <valeur>" if slash else f"{p}config <réglage> <valeur>"
    config_show = f"{p}config voir" if slash else f"{p}config"
    lines = [
        "**Agora** résume en français les articles partagés, sous forme de débat : accroche, "
        "récapitulatif factuel, point de vue neutre, exemple, points de vue optimiste et pessimiste.",
        "",
        f"• {p}resume <lien> [court|standard|long] — résumer un article",
        f"• {config_show} — voir les réglages de ce salon",
        f"• {config_set} — modifier un réglage (modérateurs)",
        f"• {p}roundup — publier maintenant le récapitulatif des liens partagés ici",
        f"• {p}aide — cette aide",
    ]
    if slash:
        lines.append("• Clic droit sur un message → Applications → « Résumer » : résume ses liens")
    else:
        lines.append("• Mentionnez-moi avec un lien pour le faire résumer")
    return "\n".join(lines)
