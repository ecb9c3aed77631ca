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

JOB_INTERRUPTED = "le résumé a été interrompu plusieurs fois (redémarrages du bot) ; réessayez plus tard."
RATE_LIMIT_SERVER = "Ce serveur a atteint sa limite de résumés pour l'heure : réessayez plus tard."
RATE_LIMIT_ROOM = "Ce salon a atteint sa limite de résumés pour l'heure : réessayez plus tard."

ROUNDUP_TITLE = "📚 Récapitulatif des liens partagés — {period}"
ROUNDUP_EMPTY = "Aucun lien n'a été partagé ici {period}."
ROUNDUP_DEBATES = "Les débats de la période"
ROUNDUP_FAILED_ENTRY = "⚠️ {url} — non résumé : {reason}"
ROUNDUP_FULL_DIGEST = "↳ Résumé complet : {link}"
ROUNDUP_COUNT = "{links} lien(s) partagé(s), {digests} résumé(s)."
ROUNDUP_RECURRING = "Thèmes qui reviennent : {themes}."
ROUNDUP_TOPICS = "Sujets abordés : {themes}."
ROUNDUP_NO_THEME = "Pas de thème récurrent cette fois."


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
        lines.insert(
            -2, f"• {p}config salon-auto ajouter|retirer #salon — résumés automatiques d'un salon (modérateurs)"
        )
        lines.append("• Clic droit sur un message → Applications → « Résumer » : résume ses liens")
    else:
        lines.append("• Mentionnez-moi avec un lien pour le faire résumer")
    return "\n".join(lines)


# --- Discord -----------------------------------------------------------------------------------------
# Application command names and descriptions (Discord shows them in its command picker; at most 100
# characters a description).
DISCORD_RESUME = "Résumer un article sous forme de débat"
DISCORD_RESUME_URL = "Lien de l'article (http ou https)"
DISCORD_RESUME_LENGTH = "Longueur du résumé (par défaut : celle du serveur)"
DISCORD_MESSAGE_ACTION = "Résumer"
DISCORD_CONFIG = "Réglages d'Agora sur ce serveur"
DISCORD_CONFIG_VIEW = "Voir les réglages de ce salon"
DISCORD_CONFIG_SET = "Modifier un réglage (permission « Gérer le serveur »)"
DISCORD_CONFIG_KEY = "Le réglage à modifier"
DISCORD_CONFIG_VALUE = "La nouvelle valeur (« défaut » pour revenir à la valeur par défaut)"
DISCORD_AUTO = "Résumés automatiques des liens d'un salon"
DISCORD_AUTO_ADD = "Résumer automatiquement les liens partagés dans un salon"
DISCORD_AUTO_REMOVE = "Ne plus résumer automatiquement les liens d'un salon"
DISCORD_AUTO_CHANNEL = "Le salon"
DISCORD_ROUNDUP = "Publier maintenant le récapitulatif des liens partagés dans ce salon"
DISCORD_HELP = "Ce que fait Agora et comment l'utiliser"

DISCORD_NEEDS_MANAGE_GUILD = (
    "⛔ Seuls les membres qui ont la permission « Gérer le serveur » peuvent modifier la configuration."
)
DISCORD_GUILD_ONLY = "Cette commande ne fonctionne que dans un serveur."
DISCORD_AUTO_ON = "✅ Résumés automatiques activés dans {channel}."
DISCORD_AUTO_OFF = "✅ Résumés automatiques désactivés dans {channel}."
DISCORD_AUTO_INTENT_OFF = (
    "⚠️ Les résumés automatiques sont désactivés dans la configuration du bot (intention « contenu "
    "des messages ») : ce réglage prendra effet quand un administrateur du bot l'activera."
)
DISCORD_THREAD_NAME = "Débat : {title}"
DISCORD_LATE = "Voici le résumé demandé par {user} (trop long pour la réponse à la commande) :"


def progress(url: str, step: str | None = None) -> str:
    """The working status shown while a digest is written: the link, then the current step."""
    text = f"{WORKING}\n{url}"
    return f"{text}\n\n*{step}*" if step else text


# --- Matrix --------------------------------------------------------------------------------------------

MATRIX_NOT_MODERATOR = (
    "⛔ Seuls les modérateurs de ce salon (niveau de pouvoir {level} ou plus) peuvent modifier les "
    "réglages. Vous pouvez les consulter avec {prefix}config."
)
