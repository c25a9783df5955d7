"""Who the generated students are: French first and last names, the mix of majors and of ages.

Data only, read by :mod:`producer.valid_events`, which keeps every draw inside the configured age
bounds and the majors seed.
"""
from __future__ import annotations

FIRST_NAMES = (
    "Léa", "Chloé", "Manon", "Inès", "Camille", "Zoé", "Louise", "Jade", "Emma", "Lina", "Alice", "Juliette",
    "Anaïs", "Éloïse", "Héloïse", "Maëlys", "Océane", "Noémie", "Adèle", "Élise", "Amélie", "Cécile", "Hélène",
    "Gaëlle", "Agathe", "Clémence", "Margaux", "Pauline", "Mathilde", "Lucie", "Sarah", "Laura", "Marine",
    "Céline", "Valérie", "Thérèse", "Bérénice", "Salomé", "Maïwenn", "Rosalie", "Capucine", "Ambre", "Nour",
    "Yasmine", "Fatoumata", "Awa", "Marie-Ève", "Anne-Sophie", "Claire", "Sophie", "Aurélie", "Mélanie",
    "Lucas", "Hugo", "Théo", "Noé", "Raphaël", "Gabriel", "Maël", "Louis", "Arthur", "Jules", "Nathan",
    "Clément", "Jérôme", "Benoît", "François", "Mathéo", "Timothée", "Loïc", "Joël", "Aurélien", "Sébastien",
    "Stéphane", "Étienne", "Grégoire", "Côme", "Anatole", "Baptiste", "Maxime", "Quentin", "Romain", "Antoine",
    "Thomas", "Nicolas", "Julien", "Adrien", "Valentin", "Bastien", "Corentin", "Killian", "Yanis", "Mehdi",
    "Karim", "Moussa", "Mamadou", "Jean-Baptiste", "Pierre-Louis", "Gaël", "Noël", "Cyril", "Rémi", "Léo",
    "Bob", "Victor", "Xavier", "Yves", "Émile", "Félix", "Lény", "Enzo", "Tom", "Paul", "Samuel", "Ibrahim",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
    "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
    "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin",
    "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier", "Roger", "Roche",
    "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand", "Dufour", "Blanchard", "Marie",
    "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Fernandez", "Pierre", "Renard",
    "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois", "Renaud", "Lemoine",
    "Picard", "Gaillard", "Philippe", "Lacroix", "Fabre", "Dupuis", "Olivier", "Rodriguez", "Da Silva",
    "Hubert", "Louis", "Charles", "Guillot", "Rivière", "Le Gall", "Guillaume", "Adam", "Rey", "Moulin",
    "Berger", "Lecomte", "Ménard", "Fleury", "Deschamps", "Carpentier", "Julien", "Benoît", "Maillard",
    "Aubry", "Jacquet", "Collet", "Prévost", "Poirier", "Charpentier", "Huet", "Baron", "Carré", "Breton",
    "Rémy", "Schneider", "Perrot", "Barré", "Lebrun", "Côté", "Hébert", "Lévêque", "Thibault", "Étienne",
    "N'Diaye", "Traoré", "Diallo", "Benali", "Haddad", "Le Goff", "Kerbrat", "Ollivier", "Bouchard",
)
# Non-uniform mix (weights by canonical name; a major the seed adds later gets weight 1).
MAJOR_WEIGHTS = {
    "Informatique": 24, "Economie": 16, "Biologie": 14, "Mathématiques": 12,
    "Chimie": 10, "Physique": 9, "Littérature": 8, "Philosophie": 7,
}
# Ages that look like students: mostly 18-30, a tail of older students.
AGE_WEIGHTS = {
    17: 1.0, 18: 7.0, 19: 11.0, 20: 12.0, 21: 12.0, 22: 11.0, 23: 9.0, 24: 7.0, 25: 5.5, 26: 4.5,
    27: 3.5, 28: 3.0, 29: 2.5, 30: 2.0, 31: 1.5, 32: 1.2, 33: 1.0, 34: 0.9, 35: 0.8,
    **{a: 0.5 for a in range(36, 41)}, **{a: 0.25 for a in range(41, 51)}, **{a: 0.1 for a in range(51, 66)},
}
